/**
 * The executor that runs jobs in a child process (node:child_process fork of executor-process.ts),
 * so onnxruntime never blocks the caller's thread: `sdlite serve` keeps answering `/progress`,
 * `/interrupt` and its web UI while a job computes for minutes.
 *
 * The process starts on the first operation and keeps its pipelines open between jobs. If it dies
 * (killed, out of memory, a native crash), the operation in progress fails with
 * ExecutorCrashedError and the next one starts a fresh process. Stopping a job is a message: the
 * process sees it at the end of the running network call, so a job stops within one step.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { GenerationJob } from "../pipeline/generation-job.js";
import type { PipelineSpec } from "../pipeline/job-engine.js";
import type { GenerationJobResult } from "../pipeline/run-generation-job.js";
import type { UpscaleJob, UpscaleJobOptions, UpscaleJobResult } from "../upscale/upscale-job.js";
import { deserializeError, type FromExecutor, type ToExecutor } from "./executor-messages.js";
import {
  type ExecutionOptions,
  ExecutorCrashedError,
  type JobExecutor,
  type OpenedModelInfo,
} from "./job-executor.js";

export interface ChildProcessExecutorOptions {
  /** Opened pipelines the process keeps between jobs (default 2). */
  readonly maxPipelines?: number;
  /** Lines worth a server log (a repaired graph-cache entry). */
  readonly log?: (line: string) => void;
  /** Threads per upscaler operator (default: physical cores). */
  readonly upscaleThreads?: number;
  /** false: upscaler graphs are built in memory, not cached. */
  readonly upscaleCache?: boolean;
}

/** How long close() waits for the process to stop on its own before killing it. */
export const DEFAULT_CLOSE_GRACE_MS = 5000;

type Result = GenerationJobResult | UpscaleJobResult | undefined;

interface Pending {
  readonly resolve: (result: Result) => void;
  readonly reject: (error: Error) => void;
  readonly options?: ExecutionOptions;
  readonly upscaleOptions?: UpscaleJobOptions;
}

/** The process's entry point: the .ts source when running from source (tsx), else the built .js. */
function entryPoint(): string {
  const self = fileURLToPath(import.meta.url);
  return self.replace(/child-process-executor\.(ts|js)$/, "executor-process.$1");
}

export class ChildProcessExecutor implements JobExecutor {
  private child?: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private model?: OpenedModelInfo;
  private closed = false;

  constructor(private readonly options: ChildProcessExecutorOptions = {}) {}

  /** The running process's id (tests kill it to check recovery); undefined when none runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async prepare(spec: PipelineSpec): Promise<void> {
    await this.request((id) => ({ type: "prepare", id, spec }));
  }

  async run(job: GenerationJob, options: ExecutionOptions = {}): Promise<GenerationJobResult> {
    const id = this.nextId;
    const result = this.request((id) => ({ type: "run", id, job, preview: options.preview }), { options });
    return (await this.abortable(id, result, options.signal, options.keepStopped)) as GenerationJobResult;
  }

  async upscale(job: UpscaleJob, options: UpscaleJobOptions = {}): Promise<UpscaleJobResult> {
    const id = this.nextId;
    const result = this.request((id) => ({ type: "upscale", id, job }), { upscaleOptions: options });
    return (await this.abortable(id, result, options.signal)) as UpscaleJobResult;
  }

  /** Sends operation `id` an abort message when `signal` aborts, until it ends. */
  private async abortable(
    id: number,
    result: Promise<Result>,
    signal: AbortSignal | undefined,
    keepStopped?: () => boolean,
  ): Promise<Result> {
    const onAbort = () =>
      this.post({ type: "abort", id, reason: signal?.reason, keep: keepStopped?.() ?? false });
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await result;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  async release(): Promise<void> {
    if (!this.child) {
      this.model = undefined;
      return;
    }
    await this.request((id) => ({ type: "release", id }));
  }

  latestModel(): OpenedModelInfo | undefined {
    return this.model;
  }

  /**
   * Closes the IPC channel, on which the process closes its pipelines and exits; one that has not
   * exited within `graceMs` (a network call still running) is killed. A job in progress fails.
   */
  async close(graceMs = DEFAULT_CLOSE_GRACE_MS): Promise<void> {
    this.closed = true;
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (child.connected) child.disconnect();
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Kills the process at once (a job in progress fails with ExecutorCrashedError). */
  kill(): void {
    this.child?.kill("SIGKILL");
  }

  private request(
    message: (id: number) => ToExecutor,
    callbacks: Pick<Pending, "options" | "upscaleOptions"> = {},
  ): Promise<Result> {
    if (this.closed) return Promise.reject(new Error("the job executor is closed"));
    const id = this.nextId++;
    const child = this.start();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...callbacks });
      child.send(message(id));
    });
  }

  private post(message: ToExecutor): void {
    if (this.child?.connected) this.child.send(message);
  }

  private start(): ChildProcess {
    if (this.child) return this.child;
    const { maxPipelines, upscaleThreads, upscaleCache } = this.options;
    const child = fork(entryPoint(), [JSON.stringify({ maxPipelines, upscaleThreads, upscaleCache })], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child = child;
    child.on("message", (message: FromExecutor) => this.receive(message));
    child.on("error", (err) => this.crashed(child, err.message));
    child.on("exit", (code, signal) =>
      this.crashed(child, signal ? `killed by ${signal}` : `exit code ${code}`),
    );
    return child;
  }

  private crashed(child: ChildProcess, detail: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.model = undefined;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(new ExecutorCrashedError(detail));
  }

  private receive(message: FromExecutor): void {
    switch (message.type) {
      case "log":
        this.options.log?.(message.line);
        return;
      case "model":
        this.model = message.model;
        return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    const { options } = pending;
    switch (message.type) {
      case "progress":
        options?.onProgress?.(message.progress);
        return;
      case "preview":
        options?.onPreview?.(message.png, message.step);
        return;
      case "upscale-progress":
        pending.upscaleOptions?.onProgress?.(message.upscaler, message.progress);
        return;
      case "iteration": {
        const signal = options?.iterationSignal?.(message.iteration);
        signal?.addEventListener(
          "abort",
          () => {
            // the job's own abort is sent by run(); this is the iteration's alone (skip)
            if (options?.signal?.aborted) return;
            this.post({
              type: "skip",
              id: message.id,
              iteration: message.iteration,
              keep: options?.keepStopped?.() ?? false,
            });
          },
          { once: true },
        );
        return;
      }
      case "done":
        this.pending.delete(message.id);
        pending.resolve(message.result);
        return;
      case "failed":
        this.pending.delete(message.id);
        pending.reject(deserializeError(message.error));
        return;
    }
  }
}
