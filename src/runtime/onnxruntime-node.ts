/**
 * The Runtime over onnxruntime-node: the only file in sdlite that imports it. Maps provider names
 * to ORT execution providers, turns ORT tensors into plain typed arrays and back.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
// must run before onnxruntime-node loads: see the module
import "./onnxruntime-telemetry.js";
import * as ort from "onnxruntime-node";
import { misalignedPrepackedBlobs } from "./prepacked-blob-offsets.js";
import {
  type DeviceTensor,
  ExecutionProviderError,
  executionProviderConfigs,
  isDeviceTensor,
  type ModelSource,
  type Runtime,
  type Session,
  type SessionFeed,
  type SessionOptions,
  type TensorData,
  type TensorValues,
} from "./runtime.js";

/** Physical cores: hyper-threads share one core's SIMD units, so more threads than cores only adds contention. */
export function physicalCoreCount(): number {
  try {
    const cpuinfo = readFileSync("/proc/cpuinfo", "utf-8");
    const cores = new Set<string>();
    let physicalId = "0";
    for (const line of cpuinfo.split("\n")) {
      const [key, value] = line.split(":").map((s) => s?.trim());
      if (key === "physical id") physicalId = value;
      else if (key === "core id") cores.add(`${physicalId}/${value}`);
    }
    if (cores.size > 0) return Math.min(cores.size, availableParallelism());
  } catch {
    // not Linux: fall back to the logical count
  }
  return availableParallelism();
}

function toOrtTensor(name: string, t: TensorData): ort.Tensor {
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

/** Device tensors made and not yet disposed (Runtime.liveDeviceTensors). */
let liveDeviceTensors = 0;

/**
 * An ORT tensor at location "gpu-buffer". Only sessions read it: the Node binding's download
 * (`getData()`) aborts the process in onnxruntime-node 1.30, so there is no way back but a run.
 */
class OrtDeviceTensor implements DeviceTensor {
  readonly location = "device";
  private released = false;

  constructor(readonly tensor: ort.Tensor) {
    liveDeviceTensors++;
  }

  get dims(): readonly number[] {
    return this.tensor.dims;
  }

  get disposed(): boolean {
    return this.released;
  }

  dispose(): void {
    if (this.released) return;
    this.released = true;
    liveDeviceTensors--;
    this.tensor.dispose();
  }
}

function toOrtFeed(name: string, feed: SessionFeed): ort.Tensor {
  if (!isDeviceTensor(feed)) return toOrtTensor(name, feed);
  if (!(feed instanceof OrtDeviceTensor))
    throw new Error(`input "${name}": a device tensor of another runtime`);
  if (feed.disposed) throw new Error(`input "${name}": the device tensor was disposed`);
  return feed.tensor;
}

function fromOrtTensor(name: string, t: ort.Tensor): TensorData {
  const data = t.data;
  if (data instanceof Float32Array || data instanceof Int32Array || data instanceof BigInt64Array) {
    return { dims: [...t.dims], data: data as TensorValues };
  }
  throw new Error(`output "${name}" has type ${t.type}, which sdlite does not handle`);
}

class OrtSession implements Session {
  constructor(
    private readonly session: ort.InferenceSession,
    /** The profile file prefix, when profiling. */
    private readonly profilePrefix?: string,
    /** Outputs ORT leaves in device memory (preferredOutputLocation "gpu-buffer"). */
    private readonly deviceOutputs: ReadonlySet<string> = new Set(),
  ) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  async run(
    feeds: Readonly<Record<string, SessionFeed>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, TensorData>> {
    const device = (outputNames ?? this.outputNames).filter((n) => this.deviceOutputs.has(n));
    if (device.length > 0) {
      throw new Error(`outputs ${device.join(", ")} stay in device memory: use runToDevice`);
    }
    const results = await this.runOrt(feeds, outputNames);
    const out: Record<string, TensorData> = {};
    for (const [name, t] of Object.entries(results)) out[name] = fromOrtTensor(name, t);
    return out;
  }

  async runToDevice(
    feeds: Readonly<Record<string, SessionFeed>>,
    outputNames: readonly string[],
  ): Promise<{ host: Record<string, TensorData>; device: Record<string, DeviceTensor> }> {
    const results = await this.runOrt(feeds, outputNames);
    const host: Record<string, TensorData> = {};
    const device: Record<string, DeviceTensor> = {};
    for (const [name, t] of Object.entries(results)) {
      if (t.location === "gpu-buffer") device[name] = new OrtDeviceTensor(t);
      else host[name] = fromOrtTensor(name, t);
    }
    return { host, device };
  }

  private async runOrt(
    feeds: Readonly<Record<string, SessionFeed>>,
    outputNames: readonly string[] | undefined,
  ): Promise<ort.InferenceSession.ReturnType> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrtFeed(name, t);
    return outputNames ? await this.session.run(ortFeeds, outputNames) : await this.session.run(ortFeeds);
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  async endProfiling(): Promise<string | undefined> {
    if (this.profilePrefix === undefined) return undefined;
    this.session.endProfiling();
    // onnxruntime names the file <prefix>_<date and time>.json and does not say which
    const dir = dirname(this.profilePrefix);
    const stem = `${basename(this.profilePrefix)}_`;
    const traces = readdirSync(dir)
      .filter((f) => f.startsWith(stem) && f.endsWith(".json"))
      .map((f) => join(dir, f))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
    return traces[0];
  }
}

const DEFAULT_PROFILE_PREFIX = "onnxruntime_profile";

export class OnnxruntimeNode implements Runtime {
  readonly name = "onnxruntime-node";

  availableProviders(): string[] {
    return ort.listSupportedBackends().map((b) => b.name);
  }

  /**
   * onnxruntime's optimised model depends on its version, the CPU (at level "all" it holds NCHWc
   * nodes laid out for this CPU's vector width) and the level and config entries it was made with.
   * Only CPU sessions: other providers may fuse nodes into ones no file can hold.
   */
  optimizedModelFingerprint(options: SessionOptions = {}): string | undefined {
    const providers = options.executionProviders ?? ["cpu"];
    if (providers.some((p) => p !== "cpu") || options.optimizedModelFilePath) return undefined;
    const config = Object.entries(options.configEntries ?? {}).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return JSON.stringify({
      onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
      cpu: cpuFeatureFingerprint(),
      level: options.graphOptimizationLevel ?? "all",
      config,
      // an entry with prepacked weights is another file layout: never read as one without, nor back
      ...(options.savePrepackedWeights ? { prepackedWeights: true } : {}),
    });
  }

  /** A saved optimised model is already optimised for this CPU: optimising it again would only cost time. */
  optimizedModelLoadOptions(options: SessionOptions = {}): SessionOptions {
    return { ...options, graphOptimizationLevel: "disabled", optimizedModelFilePath: undefined };
  }

  /** WebGPU first: ORT's "gpu-buffer" tensors (ECOSYSTEM.md 2.2); the CPU has no device memory. */
  deviceTensors(options: SessionOptions = {}): boolean {
    return options.executionProviders?.[0] === "webgpu";
  }

  liveDeviceTensors(): number {
    return liveDeviceTensors;
  }

  async createSession(model: ModelSource, options: SessionOptions = {}): Promise<Session> {
    const providers = options.executionProviders ?? ["cpu"];
    const available = this.availableProviders();
    for (const p of providers) {
      if (!available.includes(p)) throw new ExecutionProviderError(p, available);
    }
    const deviceOutputs = new Set(options.deviceOutputs ?? []);
    if (deviceOutputs.size > 0 && !this.deviceTensors(options)) {
      throw new Error(
        `device outputs need a provider with device memory (webgpu); got ${providers.join(", ")}`,
      );
    }
    const profilePrefix = options.enableProfiling
      ? resolve(options.profileFilePrefix ?? DEFAULT_PROFILE_PREFIX)
      : undefined;
    const ortOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: executionProviderConfigs(providers, options.webgpuLayout),
      intraOpNumThreads: options.intraOpNumThreads ?? physicalCoreCount(),
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: options.graphOptimizationLevel ?? "all",
      enableCpuMemArena: options.cpuMemArena ?? true,
      enableMemPattern: options.memPattern ?? true,
      logSeverityLevel: options.logSeverityLevel ?? 3,
      ...(options.optimizedModelFilePath ? { optimizedModelFilePath: options.optimizedModelFilePath } : {}),
      ...(profilePrefix ? { enableProfiling: true, profileFilePrefix: profilePrefix } : {}),
      ...(deviceOutputs.size > 0
        ? {
            preferredOutputLocation: Object.fromEntries(
              [...deviceOutputs].map((name) => [name, "gpu-buffer" as const]),
            ),
          }
        : {}),
    };
    const config = { ...options.configEntries };
    if (options.optimizedModelFilePath) {
      // a protobuf holds at most 2 GB, so the saved model's weights go to a file beside it
      config["session.optimized_model_external_initializers_file_name"] ??=
        `${basename(options.optimizedModelFilePath)}.data`;
      config["session.optimized_model_external_initializers_min_size_in_bytes"] ??= "1024";
      // the packed weights go to the same file; a session over the saved model maps them (no packing)
      if (options.savePrepackedWeights)
        config["session.save_external_prepacked_constant_initializers"] ??= "1";
    }
    // the Node binding turns `extra`'s keys into session config entries (dotted names pass as they are)
    if (Object.keys(config).length > 0) ortOptions.extra = config;
    try {
      const session =
        "path" in model
          ? await ort.InferenceSession.create(model.path, ortOptions)
          : await ort.InferenceSession.create(model.bytes, {
              ...ortOptions,
              externalData: model.externalData?.map((f) => ({ path: f.path, data: f.data })),
            });
      const saved = options.optimizedModelFilePath;
      if (saved && options.savePrepackedWeights && misalignedPrepackedBlobs(readFileSync(saved)) > 0) {
        // a blob a later session would map misaligned crashes it (prepacked-blob-offsets.ts): this
        // model is saved again without them (its session then packs at load, as without the option)
        await session.release();
        const dataFile = config["session.optimized_model_external_initializers_file_name"];
        rmSync(saved, { force: true });
        if (dataFile) rmSync(join(dirname(saved), dataFile), { force: true });
        return await this.createSession(model, { ...options, savePrepackedWeights: false });
      }
      return new OrtSession(session, profilePrefix, deviceOutputs);
    } catch (err) {
      const gpu = providers.filter((p) => p !== "cpu");
      const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
      // A provider that is listed but cannot start (missing driver/library/adapter) fails here.
      if (gpu.length > 0) throw new ExecutionProviderError(gpu.join("+"), available, message);
      throw err;
    }
  }
}

function readCpuinfo(): string | undefined {
  try {
    return readFileSync("/proc/cpuinfo", "utf-8");
  } catch {
    return undefined;
  }
}

/**
 * The CPU features onnxruntime's kernels and layout rewrites are chosen by (the NCHWc block is 16
 * floats with AVX-512, 8 with AVX2), as one hash.
 */
export function cpuFeatureFingerprint(cpuinfo: string | undefined = readCpuinfo()): string {
  let features = "";
  if (cpuinfo !== undefined) {
    const flags = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "";
    features = flags.split(/\s+/).filter(Boolean).sort().join(" ");
  }
  // not Linux: the model name is the best stand-in
  if (!features) features = cpus()[0]?.model ?? "unknown";
  const hash = createHash("sha256").update(`${process.platform}/${process.arch}/${features}`).digest("hex");
  return `${process.platform}-${process.arch}-${hash.slice(0, 16)}`;
}

let defaultRuntime: OnnxruntimeNode | undefined;

/** The process-wide runtime (ORT's environment is global anyway). */
export function onnxruntimeNode(): Runtime {
  defaultRuntime ??= new OnnxruntimeNode();
  return defaultRuntime;
}
