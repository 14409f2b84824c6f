/**
 * A Runtime that records what its sessions cost: for each session, when it was created, how long
 * creation took (wall and process CPU time, which stays meaningful on a busy machine), and its runs.
 * `sdlite generate --json` reports it as the start-up breakdown (where a fresh process spends its
 * time before the first step). It wraps another Runtime and changes nothing it does. A session
 * created in a worker thread (worker-thread-runtime.ts) counts the process's CPU time during its
 * creation, so it includes whatever this thread did meanwhile.
 */
import type {
  DeviceTensor,
  ModelSource,
  Runtime,
  Session,
  SessionFeed,
  SessionOptions,
  TensorData,
} from "./runtime.js";

export interface SessionActivity {
  /** The model file, or "in-memory" for a model given as bytes. */
  readonly model: string;
  /** Where the session lives: this thread, or a worker thread (the runtime recorded `alongside`). */
  readonly thread: RecordedThread;
  /** When creation began, in ms since the recorder's clock origin (process start by default). */
  readonly createdAt: number;
  readonly createMs: number;
  /** Process CPU time (all threads) during creation. */
  readonly createCpuMs: number;
  /** When the first run began, and how long it took; undefined before a run. */
  firstRunAt?: number;
  firstRunMs?: number;
  runs: number;
  runMs: number;
  released: boolean;
}

export type RecordedThread = "main" | "worker";

export interface RecorderClock {
  now(): number;
  /** Process CPU time in ms. */
  cpu(): number;
}

const processClock: RecorderClock = {
  now: () => performance.now(),
  cpu: () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  },
};

class RecordingSession implements Session {
  constructor(
    private readonly inner: Session,
    private readonly activity: SessionActivity,
    private readonly clock: RecorderClock,
  ) {}

  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.inner.outputNames;
  }

  async run(
    feeds: Readonly<Record<string, SessionFeed>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, TensorData>> {
    return this.timed(() => this.inner.run(feeds, outputNames));
  }

  get runToDevice(): Session["runToDevice"] {
    const inner = this.inner;
    if (!inner.runToDevice) return undefined;
    return (
      feeds: Readonly<Record<string, SessionFeed>>,
      outputNames: readonly string[],
    ): Promise<{ host: Record<string, TensorData>; device: Record<string, DeviceTensor> }> =>
      this.timed(() => inner.runToDevice!(feeds, outputNames));
  }

  private async timed<T>(run: () => Promise<T>): Promise<T> {
    const start = this.clock.now();
    const result = await run();
    const ms = this.clock.now() - start;
    const a = this.activity;
    if (a.firstRunAt === undefined) {
      a.firstRunAt = start;
      a.firstRunMs = ms;
    }
    a.runs++;
    a.runMs += ms;
    return result;
  }

  async release(): Promise<void> {
    this.activity.released = true;
    await this.inner.release();
  }

  get endProfiling(): Session["endProfiling"] {
    const inner = this.inner;
    return inner.endProfiling && (() => inner.endProfiling?.() ?? Promise.resolve(undefined));
  }
}

export class RecordingRuntime implements Runtime {
  readonly name: string;
  readonly optimizedModelFingerprint?: Runtime["optimizedModelFingerprint"];
  readonly optimizedModelLoadOptions?: Runtime["optimizedModelLoadOptions"];
  readonly deviceTensors?: Runtime["deviceTensors"];
  readonly liveDeviceTensors?: Runtime["liveDeviceTensors"];

  constructor(
    private readonly inner: Runtime,
    private readonly clock: RecorderClock = processClock,
    /** Shared with the recorder this one was made `alongside`. */
    private readonly recorded: SessionActivity[] = [],
    private readonly thread: RecordedThread = "main",
  ) {
    this.name = inner.name;
    // optional capabilities stay absent where the wrapped runtime lacks them
    if (inner.optimizedModelFingerprint) {
      this.optimizedModelFingerprint = (o) => inner.optimizedModelFingerprint?.(o);
    }
    if (inner.optimizedModelLoadOptions) {
      const load = inner.optimizedModelLoadOptions.bind(inner);
      this.optimizedModelLoadOptions = (o) => load(o);
    }
    if (inner.deviceTensors) this.deviceTensors = (o) => inner.deviceTensors?.(o) ?? false;
    if (inner.liveDeviceTensors) this.liveDeviceTensors = () => inner.liveDeviceTensors?.() ?? 0;
  }

  availableProviders(): string[] {
    return this.inner.availableProviders();
  }

  async createSession(model: ModelSource, options?: SessionOptions): Promise<Session> {
    const createdAt = this.clock.now();
    const cpu = this.clock.cpu();
    const session = await this.inner.createSession(model, options);
    const activity: SessionActivity = {
      model: "path" in model ? model.path : "in-memory",
      thread: this.thread,
      createdAt,
      createMs: this.clock.now() - createdAt,
      createCpuMs: this.clock.cpu() - cpu,
      runs: 0,
      runMs: 0,
      released: false,
    };
    this.recorded.push(activity);
    return new RecordingSession(session, activity, this.clock);
  }

  /**
   * A recorder of another runtime (the UNet's worker-thread one) into this one's list, on the same
   * clock: `sessions()` of either lists both runtimes' sessions, the other's marked `thread`.
   */
  alongside(other: Runtime, thread: RecordedThread = "worker"): RecordingRuntime {
    return new RecordingRuntime(other, this.clock, this.recorded, thread);
  }

  /** Every session created so far, in creation order (creation ended). */
  sessions(): readonly SessionActivity[] {
    return this.recorded;
  }
}
