/**
 * The Runtime over onnxruntime-web, for the browser tab: providers "webgpu" and "wasm". It never
 * imports onnxruntime-web itself: the page loads ORT's module from our own built folder
 * (dist/web/ort/, copied there by scripts/build-web.ts, no CDN) and hands it in, so the bundle that
 * holds the graph builder and the pipeline stays small and ORT's wasm files sit next to its module.
 *
 * Models come as bytes with in-memory external data (what the graph builder serialises), never by
 * path. onnxruntime-web runs one session call at a time per page well (its WebGPU device and wasm
 * heap are shared), so creation and runs are serialised through one queue.
 */
import type * as OrtWeb from "onnxruntime-web";
import {
  ExecutionProviderError,
  executionProviderConfigs,
  type ModelSource,
  type Runtime,
  type Session,
  type SessionOptions,
  type TensorData,
  type TensorValues,
} from "./runtime.js";

/** What of onnxruntime-web's module this runtime uses (`import("/ort/ort.webgpu.min.mjs")`). */
export type OrtWebModule = Pick<typeof OrtWeb, "InferenceSession" | "Tensor" | "env">;

export const WEB_PROVIDERS = ["webgpu", "wasm"] as const;

export interface OnnxruntimeWebOptions {
  /** Where ORT's `ort-wasm-*.{mjs,wasm}` files are served, ending in "/" (default: ORT's own guess). */
  readonly wasmPaths?: string;
  /** wasm threads (needs a cross-origin-isolated page); default: ORT's choice. */
  readonly numThreads?: number;
  /** Providers this page can run; default both (the engine checks WebGPU before choosing it). */
  readonly providers?: readonly string[];
}

function toOrtTensor(ort: OrtWebModule, name: string, t: TensorData): OrtWeb.Tensor {
  const expected = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.length !== expected) {
    throw new Error(
      `input "${name}": ${t.data.length} values for dims [${t.dims.join(", ")}] (expected ${expected})`,
    );
  }
  if (t.data instanceof Float32Array) return new ort.Tensor("float32", t.data, t.dims);
  if (t.data instanceof Int32Array) return new ort.Tensor("int32", t.data, t.dims);
  return new ort.Tensor("int64", t.data, t.dims);
}

function fromOrtTensor(name: string, t: OrtWeb.Tensor): TensorData {
  const data = t.data;
  if (data instanceof Float32Array || data instanceof Int32Array || data instanceof BigInt64Array) {
    return { dims: [...t.dims], data: data as TensorValues };
  }
  throw new Error(`output "${name}" has type ${t.type}, which sdlite does not handle`);
}

/**
 * onnxruntime-web 1.30 marks "a WebGPU session is being created" in its wasm module's JS glue
 * (post-webgpu.js: `webgpuRegisterDevice` sets it while the session options are prepared,
 * `webgpuOnCreateSession` clears it once `_OrtCreateSession` returns). A creation that throws in
 * between (an exception out of the native code, which arrives as a bare number, as for a
 * `preferredLayout` the provider refuses; or a JS error while the options or external data are
 * prepared) never reaches the clearing call, and every later WebGPU creation on the page is refused
 * with this message until the page reloads.
 */
const STALE_WEBGPU_CREATION = "another WebGPU EP inference session is being created";

function isStaleWebGpuCreation(err: unknown): boolean {
  return err instanceof Error && err.message.includes(STALE_WEBGPU_CREATION);
}

/** Not an ONNX model: onnxruntime cannot parse it, so creating a session from it fails cleanly. */
const NOT_A_MODEL = Uint8Array.of(0xff);

/**
 * Clears that mark through the public API: a wasm-only creation registers no WebGPU device, and
 * onnxruntime-web calls `webgpuOnCreateSession` after every `_OrtCreateSession` that returns, failed
 * ones included (handle 0: the mark is cleared and nothing else is touched). A model that does not
 * parse returns there with an error, so no session is made; the error is the expected outcome.
 */
async function clearWebGpuCreation(ort: OrtWebModule): Promise<void> {
  await ort.InferenceSession.create(NOT_A_MODEL, { executionProviders: ["wasm"] }).then(
    (session) => session.release(),
    () => undefined,
  );
}

/**
 * onnxruntime-web rejects with an Error, except for a C++ exception out of its wasm module, which
 * arrives as the exception's address (a bare number): that becomes one line that says so.
 */
function ortError(err: unknown): unknown {
  if (typeof err !== "number") return err;
  return new Error(
    `onnxruntime-web failed inside its wasm module (C++ exception ${err}; its message is not readable from JavaScript)`,
  );
}

/** One call at a time through onnxruntime-web (sessions share its device and heap). */
class CallQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(call: () => Promise<T>): Promise<T> {
    const next = this.tail.then(call, call);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

class OrtWebSession implements Session {
  constructor(
    private readonly ort: OrtWebModule,
    private readonly session: OrtWeb.InferenceSession,
    private readonly queue: CallQueue,
  ) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  run(
    feeds: Readonly<Record<string, TensorData>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, TensorData>> {
    return this.queue.run(async () => {
      const ortFeeds: Record<string, OrtWeb.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(this.ort, name, t);
      const results = outputNames
        ? await this.session.run(ortFeeds, outputNames)
        : await this.session.run(ortFeeds);
      const out: Record<string, TensorData> = {};
      for (const [name, t] of Object.entries(results)) {
        out[name] = fromOrtTensor(name, t);
        t.dispose();
      }
      return out;
    });
  }

  release(): Promise<void> {
    return this.queue.run(() => this.session.release());
  }
}

export class OnnxruntimeWeb implements Runtime {
  readonly name = "onnxruntime-web";
  private readonly queue = new CallQueue();

  constructor(
    private readonly ort: OrtWebModule,
    private readonly options: OnnxruntimeWebOptions = {},
  ) {
    if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths;
    if (options.numThreads !== undefined) ort.env.wasm.numThreads = options.numThreads;
  }

  availableProviders(): string[] {
    return [...(this.options.providers ?? WEB_PROVIDERS)];
  }

  createSession(model: ModelSource, options: SessionOptions = {}): Promise<Session> {
    if (!("bytes" in model)) {
      return Promise.reject(new Error("onnxruntime-web loads models from bytes, not from a path"));
    }
    const providers = options.executionProviders ?? ["wasm"];
    const available = this.availableProviders();
    for (const p of providers) {
      if (!available.includes(p)) return Promise.reject(new ExecutionProviderError(p, available));
    }
    const ortOptions: OrtWeb.InferenceSession.SessionOptions = {
      executionProviders: executionProviderConfigs(providers, options.webgpuLayout),
      graphOptimizationLevel: options.graphOptimizationLevel ?? "all",
      logSeverityLevel: options.logSeverityLevel ?? 3,
      externalData: model.externalData?.map((f) => ({ path: f.path, data: f.data })),
    };
    if (options.intraOpNumThreads !== undefined) ortOptions.intraOpNumThreads = options.intraOpNumThreads;
    // onnxruntime-web flattens `extra` into dotted config keys: "session.x" stays "session.x"
    if (options.configEntries) ortOptions.extra = { ...options.configEntries };
    const webgpu = providers.includes("webgpu");
    const create = () => this.ort.InferenceSession.create(model.bytes, ortOptions);
    return this.queue.run(async () => {
      let session: OrtWeb.InferenceSession;
      try {
        session = await create();
      } catch (err) {
        if (!webgpu) throw ortError(err);
        await clearWebGpuCreation(this.ort);
        // refused for the mark an earlier failure left (another caller's): this model was never
        // tried, so it is tried once more
        if (!isStaleWebGpuCreation(err)) throw ortError(err);
        session = await create().catch(async (again: unknown) => {
          await clearWebGpuCreation(this.ort);
          throw ortError(again);
        });
      }
      return new OrtWebSession(this.ort, session, this.queue);
    });
  }
}
