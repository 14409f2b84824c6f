/**
 * The one seam between sdlite and an inference engine: sessions over ONNX models that take and
 * return plain typed arrays. Nothing outside src/runtime/ knows which engine runs the graphs.
 */

export type TensorValues = Float32Array | Int32Array | BigInt64Array;

export interface TensorData {
  readonly dims: readonly number[];
  readonly data: TensorValues;
}

/**
 * A tensor held in device memory (a WebGPU buffer), made by a session created with
 * `SessionOptions.deviceOutputs`. Opaque: only a later run of a session on the same device reads
 * it, without a copy. Whoever holds it disposes it (device memory is not garbage-collected);
 * feeding a disposed one is an error.
 */
export interface DeviceTensor {
  readonly location: "device";
  readonly dims: readonly number[];
  readonly disposed: boolean;
  /** Frees the device memory; a second call does nothing. */
  dispose(): void;
}

/** What a session run takes per input: CPU values, or a tensor already in device memory. */
export type SessionFeed = TensorData | DeviceTensor;

export function isDeviceTensor(feed: SessionFeed): feed is DeviceTensor {
  return "location" in feed && feed.location === "device";
}

export interface ExternalDataFile {
  /** The name the model's tensors refer to (their external_data "location"). */
  readonly path: string;
  readonly data: Uint8Array;
}

/** A model file on disk (external data resolved next to it), or bytes plus in-memory external data. */
export type ModelSource =
  | { readonly path: string }
  | { readonly bytes: Uint8Array; readonly externalData?: readonly ExternalDataFile[] };

export type GraphOptimizationLevel = "disabled" | "basic" | "extended" | "all";

/**
 * The data layout a WebGPU provider runs its layout-sensitive ops in (Conv above all). "NHWC":
 * onnxruntime rewrites those nodes to its channels-last kernels with Transposes around them.
 */
export type WebGpuLayout = "NCHW" | "NHWC";

export const WEBGPU_LAYOUTS: readonly WebGpuLayout[] = ["NCHW", "NHWC"];

/** An execution provider as onnxruntime (node and web alike) takes it: by name, or "webgpu" with a layout. */
export type ExecutionProviderConfig =
  | string
  | { readonly name: "webgpu"; readonly preferredLayout: WebGpuLayout };

/**
 * Provider names as onnxruntime takes them: "webgpu" with its `preferredLayout` where a layout is
 * asked for (absent, the provider keeps its own default), the others by name.
 */
export function executionProviderConfigs(
  providers: readonly string[],
  webgpuLayout?: WebGpuLayout,
): ExecutionProviderConfig[] {
  return providers.map((p) =>
    p === "webgpu" && webgpuLayout !== undefined ? { name: "webgpu", preferredLayout: webgpuLayout } : p,
  );
}

export interface SessionOptions {
  /**
   * Execution providers by name, in order of preference: "cpu" (default), "webgpu", "cuda", "dml",
   * "coreml". A provider the runtime cannot use fails session creation with an error naming it.
   */
  readonly executionProviders?: readonly string[];
  /** Threads for one operator; default: the number of physical cores. */
  readonly intraOpNumThreads?: number;
  /**
   * Keep the memory a run frees in the engine's pool for the next run (default true). false hands it
   * back after each run: less memory held between runs, for a little more time allocating.
   */
  readonly cpuMemArena?: boolean;
  /**
   * Plan each run's intermediate tensors as one block, laid out from the first run's allocations
   * (onnxruntime's memory pattern; default true). false allocates them one by one from the pool (or
   * the system without one): a pool then holds the most the run had live at once rather than the
   * first run's allocations plus the planned block. Either way the same numbers.
   */
  readonly memPattern?: boolean;
  /** Default "all" (includes the NCHWc conv layout on x86). */
  readonly graphOptimizationLevel?: GraphOptimizationLevel;
  /**
   * Writes the optimised graph here while the session is created (for inspection or caching);
   * its weights go to files beside it.
   */
  readonly optimizedModelFilePath?: string;
  /**
   * With `optimizedModelFilePath`: also save the engine's prepacked weights (onnxruntime:
   * `session.save_external_prepacked_constant_initializers`), so a session over the saved model maps
   * them instead of packing them again. Same kernels on the same bytes, so the same numbers; more
   * disk. Worth it where packing is much of the creation (the int8 UNet), not for the fp32 UNet.
   * A runtime that finds the saved blobs unusable (onnxruntime: one a mapping would misalign) saves
   * the model again without them.
   */
  readonly savePrepackedWeights?: boolean;
  /**
   * Engine-specific settings by name (onnxruntime: session config entries such as
   * "session.disable_prepacking": "1"). Unknown names are ignored by the engine.
   */
  readonly configEntries?: Readonly<Record<string, string>>;
  /** Record every kernel's time; Session.endProfiling() then names the trace file. */
  readonly enableProfiling?: boolean;
  /**
   * Where the trace goes: the engine appends its own suffix (onnxruntime: `_<date>.json`), so give
   * a path in a folder of its own. Default: the engine's name in the working directory.
   */
  readonly profileFilePrefix?: string;
  /**
   * Outputs that stay in device memory: `Session.runToDevice` returns them as DeviceTensors. Only
   * for runtimes whose `deviceTensors(options)` is true for these options.
   */
  readonly deviceOutputs?: readonly string[];
  /** 0 verbose … 4 fatal; default 3 (errors only). */
  readonly logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * The WebGPU provider's layout (onnxruntime: its `preferredLayout` option). Absent: the engine's
   * own default (onnxruntime 1.30's WebGPU provider, native and web: "NHWC"). Other providers
   * ignore it.
   */
  readonly webgpuLayout?: WebGpuLayout;
}

export interface Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /**
   * Runs the graph; returns the requested outputs (default all) as CPU typed arrays. A device
   * output (SessionOptions.deviceOutputs) cannot be returned here: see runToDevice.
   */
  run(
    feeds: Readonly<Record<string, SessionFeed>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, TensorData>>;
  /**
   * Sessions created with `deviceOutputs`: runs the graph and returns those of `outputNames` that
   * are device outputs as DeviceTensors (the caller disposes them), the others on the CPU.
   */
  runToDevice?(
    feeds: Readonly<Record<string, SessionFeed>>,
    outputNames: readonly string[],
  ): Promise<{ host: Record<string, TensorData>; device: Record<string, DeviceTensor> }>;
  release(): Promise<void>;
  /**
   * Stops recording (sessions created with enableProfiling) and returns the trace file's path
   * (onnxruntime: Chrome trace JSON), or undefined when none was written. Absent: no profiler.
   */
  endProfiling?(): Promise<string | undefined>;
}

export interface Runtime {
  readonly name: string;
  /** Provider names this runtime was built with (some may still fail at session creation). */
  availableProviders(): string[];
  createSession(model: ModelSource, options?: SessionOptions): Promise<Session>;
  /**
   * What an optimised model saved by a session with these options depends on besides the graph
   * (engine version, CPU features, the options that shape it), as a string; undefined when this
   * runtime cannot save one that later sessions may load for these options. Absent: never.
   */
  optimizedModelFingerprint?(options?: SessionOptions): string | undefined;
  /** The options that load a model this runtime saved optimised with `options`. */
  optimizedModelLoadOptions?(options?: SessionOptions): SessionOptions;
  /**
   * Whether sessions with these options have device memory that tensors can stay in between runs
   * (`deviceOutputs`, DeviceTensor feeds); absent or false: every tensor crosses to the CPU.
   */
  deviceTensors?(options?: SessionOptions): boolean;
  /** DeviceTensors made and not yet disposed, over the runtime's life (a leak shows here). */
  liveDeviceTensors?(): number;
}

export class ExecutionProviderError extends Error {
  constructor(
    readonly provider: string,
    readonly available: readonly string[],
    detail?: string,
  ) {
    super(
      `execution provider "${provider}" is not available in this runtime (available: ${available.join(", ")})${detail ? `: ${detail}` : ""}`,
    );
    this.name = "ExecutionProviderError";
  }
}
