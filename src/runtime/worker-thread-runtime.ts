/**
 * A Runtime whose sessions each live in a worker thread of their own (session-worker.ts, which uses
 * onnxruntime-node). onnxruntime-node's session creation and runs are synchronous native calls on
 * the calling thread, so in one thread the UNet's creation (1.7 s of CPU from a saved optimised
 * model) cannot overlap the text encoder's; from a worker it can. createSession, run, endProfiling
 * and release are messages; tensors cross as copies (the UNet's feeds are small: each feed's view is
 * copied and the copy moved, outputs are cloned back); a model given by
 * path crosses as the path, bytes as a copy. CPU only: no DeviceTensors.
 *
 * An error in the worker comes back as a rejected promise with the original name and message; a
 * worker that dies (a crash, an exit) rejects whatever is pending and every later call, so no call
 * waits forever. An idle worker does not keep the process alive; release() ends it.
 *
 * `preload(model, options)` starts a session before anyone asks for it (a fresh `sdlite generate`
 * starts the UNet its command line loaded last time while this thread still imports sdlite and opens
 * the model). The createSession that asks for the same model path with the same options (compared as
 * canonical JSON) takes it over, so what runs is exactly what was asked for; one that asks for another
 * ends the preloaded ones (they were guesses, and wrong), and close() ends any nobody took. A preload
 * that failed is tried again by the createSession that asks for it, so its error is that caller's.
 * The files a preload read (its model's folder: the model and its external data) must be the same
 * files when it is taken over: a graph cache that repaired an entry meanwhile wrote new ones, and a
 * session of the old bytes must not stand in for them.
 * A worker is never terminated while onnxruntime-node creates its session: the creation's completion
 * would then call into a torn-down thread and abort the process ("terminate called after throwing an
 * instance of 'Napi::Error'"), so a preload is ended once its creation has answered, and close()
 * waits for that (at most one creation's time).
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { canonicalJson } from "./canonical-json.js";
import type { ModelSource, Runtime, Session, SessionFeed, SessionOptions, TensorData } from "./runtime.js";
import { isDeviceTensor } from "./runtime.js";
import {
  fromWorkerError,
  type SessionWorkerData,
  type SessionWorkerReply,
  type SessionWorkerRequest,
} from "./session-worker-protocol.js";

/**
 * How to start the worker: session-worker.js beside this file once compiled. Under tsx (tests) this
 * file is the .ts source, and a worker does not inherit the main thread's module hooks (nor does
 * `--import tsx` in its execArgv reach its entry file), so a small bootstrap registers tsx in the
 * worker first and then imports session-worker.ts.
 */
export interface WorkerStart {
  /** The entry file, or code to evaluate. */
  readonly entry: URL | string;
  readonly eval: boolean;
  /** The file that must exist (a clear error when the installation lacks it). */
  readonly file?: string;
}

function workerStart(): WorkerStart {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) {
    const entry = new URL("./session-worker.js", here);
    return { entry, eval: false, file: fileURLToPath(entry) };
  }
  const entry = new URL("./session-worker.ts", here);
  const tsx = import.meta.resolve("tsx/esm/api");
  const bootstrap = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return { entry: bootstrap, eval: true, file: fileURLToPath(entry) };
}

/** What makes two session requests the same: the model's path and every option. */
export function sessionRequestKey(model: { readonly path: string }, options: SessionOptions = {}): string {
  return canonicalJson({ path: model.path, options });
}

/** A session request by path, as `preload` takes it (and `requests()` lists them). */
export interface PathSessionRequest {
  readonly path: string;
  readonly options?: SessionOptions;
}

/** What became of a preload (`preloads()`), for the start-up breakdown; times are performance.now(). */
export interface PreloadRecord {
  readonly path: string;
  readonly startedAt: number;
  /** When its worker answered (session created or failed); undefined before. */
  readyAt?: number;
  /** Whether its session was created. */
  created?: boolean;
  /** Whether a createSession took it over. */
  taken: boolean;
}

/**
 * The identity of the files beside a model (its folder: the model and its external data): name, inode,
 * size and modification time of each; a rewritten or replaced file changes it.
 */
function folderIdentity(path: string): string {
  try {
    const folder = dirname(path);
    return readdirSync(folder)
      .sort()
      .map((name) => {
        const st = statSync(join(folder, name));
        return `${name}:${st.ino}:${st.size}:${st.mtimeMs}`;
      })
      .join("|");
  } catch {
    return ""; // gone or unreadable: the creation says why
  }
}

/** A worker started with its session before anyone asked for it (WorkerThreadRuntime.preload). */
interface Preload {
  readonly key: string;
  /** folderIdentity() of its model when it started. */
  readonly files: string;
  readonly worker: Worker;
  /** The worker's first reply, or why none came (never rejects: nobody may be waiting). */
  readonly created: Promise<SessionWorkerReply | Error>;
  readonly record: PreloadRecord;
}

/** A request before it gets its id. */
type Unnumbered<R> = R extends unknown ? Omit<R, "id"> : never;

type Pending = { resolve: (reply: SessionWorkerReply) => void; reject: (err: Error) => void };

class WorkerSession implements Session {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  /** Set once the worker is gone (released, crashed, exited): every later call fails with it. */
  private ended: Error | undefined;

  constructor(
    private readonly worker: Worker,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {
    worker.on("message", (reply: SessionWorkerReply) => {
      if (!("id" in reply)) return;
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      p.resolve(reply);
    });
    worker.on("error", (err) => this.end(new Error(`the session worker failed: ${err.message}`)));
    worker.on("exit", (code) => this.end(new Error(`the session worker exited (code ${code})`)));
    worker.unref();
  }

  private end(err: Error): void {
    this.ended ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private async request(
    message: Unnumbered<SessionWorkerRequest>,
    transfer: ArrayBuffer[] = [],
  ): Promise<SessionWorkerReply & { id: number }> {
    if (this.ended) throw this.ended;
    const id = this.nextId++;
    const reply = await new Promise<SessionWorkerReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // a pending reply keeps the process alive, as an in-thread run would
      this.worker.ref();
      this.worker.postMessage({ ...message, id }, transfer);
    });
    if (reply.type === "failed") throw fromWorkerError(reply.error);
    return reply as SessionWorkerReply & { id: number };
  }

  async run(
    feeds: Readonly<Record<string, SessionFeed>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, TensorData>> {
    const plain: Record<string, TensorData> = {};
    for (const [name, feed] of Object.entries(feeds)) {
      if (isDeviceTensor(feed))
        throw new Error(`input "${name}": a worker-thread session takes no device tensors`);
      // a copy of just the view (a structured clone of a view copies its whole buffer), moved across
      plain[name] = { dims: [...feed.dims], data: feed.data.slice() };
    }
    const moved = Object.values(plain).map((t) => t.data.buffer as ArrayBuffer);
    const reply = await this.request(
      { type: "run", feeds: plain, ...(outputNames ? { outputNames } : {}) },
      moved,
    );
    return reply.type === "ok" && reply.outputs ? reply.outputs : {};
  }

  async endProfiling(): Promise<string | undefined> {
    const reply = await this.request({ type: "endProfiling" });
    return reply.type === "ok" ? reply.trace : undefined;
  }

  async release(): Promise<void> {
    if (this.ended) return;
    try {
      await this.request({ type: "release" });
    } finally {
      this.ended ??= new Error("the session was released");
      await this.worker.terminate();
    }
  }
}

export class WorkerThreadRuntime implements Runtime {
  readonly name: string;
  private workers = 0;
  private readonly preloads: Preload[] = [];
  /** Preloads being ended (each once its creation has answered); close() waits for them. */
  private readonly ending: Promise<void>[] = [];
  private readonly requested: PathSessionRequest[] = [];
  private readonly preloadRecords: PreloadRecord[] = [];
  readonly optimizedModelFingerprint?: Runtime["optimizedModelFingerprint"];
  readonly optimizedModelLoadOptions?: Runtime["optimizedModelLoadOptions"];

  /**
   * `host`: the same engine in this thread (onnxruntime-node), which answers what needs no session
   * (providers, the optimised model's fingerprint and load options) exactly as the worker's would.
   */
  constructor(
    private readonly host: Runtime,
    /** Another worker that speaks session-worker-protocol.ts (tests: one that dies). Default session-worker. */
    private readonly start: () => WorkerStart = workerStart,
  ) {
    this.name = `${host.name} (worker thread)`;
    if (host.optimizedModelFingerprint) {
      this.optimizedModelFingerprint = (o) => host.optimizedModelFingerprint?.(o);
    }
    if (host.optimizedModelLoadOptions) {
      const load = host.optimizedModelLoadOptions.bind(host);
      this.optimizedModelLoadOptions = (o) => load(o);
    }
  }

  /** Worker threads started and not yet exited (a session never released shows here). */
  liveWorkers(): number {
    return this.workers;
  }

  availableProviders(): string[] {
    return this.host.availableProviders();
  }

  deviceTensors(): boolean {
    return false;
  }

  /**
   * Starts creating this session in a worker now, before anyone asks for it (see the file's
   * comment). Does not keep the process alive while it loads.
   */
  preload(request: PathSessionRequest): void {
    const key = sessionRequestKey(request, request.options);
    if (this.preloads.some((p) => p.key === key)) return;
    const record: PreloadRecord = { path: request.path, startedAt: performance.now(), taken: false };
    const files = folderIdentity(request.path);
    let worker: Worker;
    try {
      worker = this.spawn({ path: request.path }, request.options);
    } catch {
      return; // no worker to start (a broken installation): the request, if it comes, says why
    }
    worker.unref();
    const created = this.firstReply(worker).then((reply) => {
      record.readyAt = performance.now();
      record.created = !(reply instanceof Error) && reply.type === "created";
      return reply;
    });
    this.preloadRecords.push(record);
    this.preloads.push({ key, files, worker, created, record });
  }

  /** Every preload so far and what became of it. */
  preloaded(): readonly PreloadRecord[] {
    return this.preloadRecords;
  }

  /** Preloaded sessions not taken over (yet), whose workers are still to be ended. */
  pendingPreloads(): number {
    return this.preloads.length;
  }

  /** Every createSession by path so far, in order (what a later process may preload). */
  requests(): readonly PathSessionRequest[] {
    return this.requested;
  }

  async createSession(model: ModelSource, options?: SessionOptions): Promise<Session> {
    if (options?.deviceOutputs?.length) throw new Error("a worker-thread session has no device outputs");
    if ("path" in model) this.requested.push({ path: model.path, ...(options ? { options } : {}) });
    const key = "path" in model ? sessionRequestKey(model, options) : undefined;
    // the same request, over the same files (not rewritten since the preload read them)
    const preloaded = this.preloads.find(
      (p) => p.key === key && "path" in model && p.files === folderIdentity(model.path),
    );
    // the preloads were guesses at this request: the others were wrong and would only cost CPU now
    for (const p of this.preloads.splice(0)) if (p !== preloaded) this.end(p);
    if (preloaded) {
      // awaited now, so (as a worker started for this call) it keeps the process alive meanwhile
      preloaded.worker.ref();
      const created = await preloaded.created;
      if (!(created instanceof Error) && created.type === "created") {
        preloaded.record.taken = true;
        return new WorkerSession(preloaded.worker, created.inputNames, created.outputNames);
      }
      // it failed before anyone asked (its file went away, …): tried again below, for this caller
      await preloaded.worker.terminate();
    }
    const worker = this.spawn(model, options);
    const created = await this.firstReply(worker);
    if (created instanceof Error) throw created;
    if (created.type !== "created") {
      await worker.terminate();
      throw created.type === "create-failed"
        ? fromWorkerError(created.error)
        : new Error("the session worker answered out of turn");
    }
    return new WorkerSession(worker, created.inputNames, created.outputNames);
  }

  /** Ends every preloaded session nobody took over (a run that failed before it asked). */
  async close(): Promise<void> {
    for (const p of this.preloads.splice(0)) this.end(p);
    await Promise.all(this.ending.splice(0));
  }

  /** Ends a preload's worker once its creation has answered (see the file's comment). */
  private end(p: Preload): void {
    this.ending.push(p.created.then(async () => void (await p.worker.terminate())));
  }

  /** A worker that creates this session now. */
  private spawn(model: ModelSource, options: SessionOptions | undefined): Worker {
    const start = this.start();
    if (start.file && !existsSync(start.file))
      throw new Error(`the session worker is missing: ${start.file}`);
    const data: SessionWorkerData = {
      model:
        "path" in model ? { path: model.path } : { bytes: model.bytes, externalData: model.externalData },
      ...(options ? { options } : {}),
    };
    const worker = new Worker(start.entry, { workerData: data, eval: start.eval });
    this.workers++;
    worker.once("exit", () => this.workers--);
    return worker;
  }

  /** The worker's first message (its session created, or why not), or why none came; never rejects. */
  private firstReply(worker: Worker): Promise<SessionWorkerReply | Error> {
    return new Promise((resolve) => {
      const onExit = (code: number) =>
        resolve(new Error(`the session worker exited (code ${code}) before its session was created`));
      worker.once("error", (err) => resolve(new Error(`the session worker failed: ${err.message}`)));
      worker.once("exit", onExit);
      worker.once("message", (reply: SessionWorkerReply) => {
        worker.off("exit", onExit);
        resolve(reply);
      });
    });
  }
}
