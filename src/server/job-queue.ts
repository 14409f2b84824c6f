/**
 * The server's job queue: one job runs at a time (generation saturates the CPU; two at once only
 * make both slower and double the memory), the others wait in submission order and know their
 * position. Bounded: a full queue refuses new work with a retry estimate instead of growing.
 *
 * Cancelling a waiting job removes it; cancelling the running one aborts its signal and the task
 * stops at its next check. `interrupt` (A1111) aborts the running job too, but the task may still
 * return what it has; `skip` aborts only the current batch iteration. A failing task fails alone.
 */
import { randomUUID } from "node:crypto";
import type { QueueAdmin, QueueHealth, RemoteWork, ServerQueue } from "./server-queue.js";

export type JobStatus = "queued" | "running" | "done" | "failed" | "cancelled";

/** Why a running job's signal was aborted. */
export type AbortReason = "cancel" | "interrupt";

/** Live numbers of the running job, in A1111's terms (shared.state). */
export interface JobProgress {
  /** Batch iterations (n_iter) and the current one, 0-based. */
  jobCount: number;
  jobNo: number;
  samplingStep: number;
  samplingSteps: number;
  interrupted: boolean;
  skipped: boolean;
  /** Base64 PNG of the latest preview. */
  currentImage?: string;
  textinfo?: string;
}

export type JobEvent<R> =
  | { type: "queued"; position: number }
  | { type: "started" }
  | { type: "step"; step: number; total: number; jobNo: number; jobCount: number }
  | { type: "preview"; image: string; step: number }
  | { type: "done"; result: R }
  | { type: "error"; error: Error }
  | { type: "cancelled"; reason: string };

/** Events a task reports while it runs; the queue itself reports the rest. */
export type TaskEvent = Extract<JobEvent<unknown>, { type: "step" | "preview" }>;

export interface JobContext {
  /** Aborted when the job is cancelled or interrupted; `signal.reason` is an AbortReason. */
  readonly signal: AbortSignal;
  /** A signal for one batch iteration: aborted by skip() or with the job. Call once per iteration. */
  iterationSignal(): AbortSignal;
  readonly progress: JobProgress;
  emit(event: TaskEvent): void;
}

export interface Task<R> {
  readonly kind: string;
  run(context: JobContext): Promise<R>;
  /** The same work as JSON, for a queue whose workers are other processes (server-queue.ts). */
  readonly remote?: RemoteWork;
}

export class QueueFullError extends Error {
  constructor(
    readonly capacity: number,
    readonly retryAfterSeconds: number,
  ) {
    super(`the queue is full (${capacity} jobs waiting); retry in about ${retryAfterSeconds} s`);
    this.name = "QueueFullError";
  }
}

export class QueueClosedError extends Error {
  constructor() {
    super("the server is shutting down and accepts no new jobs");
    this.name = "QueueClosedError";
  }
}

/** A client-chosen job id (A1111's force_task_id) that a known job already has. */
export class DuplicateJobIdError extends Error {
  constructor(readonly id: string) {
    super(`a job with the id ${JSON.stringify(id)} exists already; choose another force_task_id`);
    this.name = "DuplicateJobIdError";
  }
}

export class JobCancelledError extends Error {
  constructor(readonly reason: string) {
    super(`job cancelled: ${reason}`);
    this.name = "JobCancelledError";
  }
}

type Listener<R> = (event: JobEvent<R>) => void;

export class Job<R> {
  readonly id: string;
  readonly createdAt = Date.now();
  status: JobStatus = "queued";
  /** 1-based place among the waiting jobs; 0 once it runs or has finished. */
  position = 0;
  startedAt?: number;
  finishedAt?: number;
  result?: R;
  error?: Error;
  readonly progress: JobProgress = {
    jobCount: 1,
    jobNo: 0,
    samplingStep: 0,
    samplingSteps: 0,
    interrupted: false,
    skipped: false,
  };
  /** Resolves with the result; rejects with the task's error or a JobCancelledError. */
  readonly finished: Promise<R>;
  private settle!: { resolve: (r: R) => void; reject: (e: Error) => void };
  private readonly listeners = new Set<Listener<R>>();
  /** The latest step event, replayed to late subscribers. */
  lastStep?: Extract<JobEvent<R>, { type: "step" }>;
  /** The worker process running or having run it (a queue on Redis). */
  worker?: string;

  constructor(
    readonly kind: string,
    id: string = randomUUID(),
  ) {
    this.id = id;
    this.finished = new Promise<R>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // nobody may be waiting (own API clients poll): an unobserved rejection must not end the process
    this.finished.catch(() => {});
  }

  get isFinal(): boolean {
    return this.status === "done" || this.status === "failed" || this.status === "cancelled";
  }

  /** Calls `listener` for every later event; returns the unsubscribe function. */
  subscribe(listener: Listener<R>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** @internal */
  emit(event: JobEvent<R>): void {
    if (event.type === "step") this.lastStep = event;
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // a broken subscriber (a closed stream) must not break the job
      }
    }
  }

  /** @internal */
  finish(status: "done" | "failed" | "cancelled", outcome: { result?: R; error?: Error }): void {
    this.status = status;
    this.position = 0;
    this.finishedAt = Date.now();
    if (status === "done") {
      this.result = outcome.result;
      this.emit({ type: "done", result: outcome.result as R });
      this.settle.resolve(outcome.result as R);
    } else {
      const error = outcome.error ?? new JobCancelledError("cancelled");
      this.error = error;
      this.emit(
        status === "failed" ? { type: "error", error } : { type: "cancelled", reason: cancelReason(error) },
      );
      this.settle.reject(error);
    }
    this.listeners.clear();
  }
}

function cancelReason(error: Error): string {
  return error instanceof JobCancelledError ? error.reason : error.message;
}

export interface JobQueueOptions {
  /** Most jobs waiting (the running one not counted). */
  capacity: number;
  /** Finished jobs kept for result look-ups; older ones are forgotten. */
  retainFinished?: number;
}

interface Running<R> {
  job: Job<R>;
  controller: AbortController;
  iteration?: AbortController;
  /** Whether the current iteration has reported a denoising step (see skip). */
  iterationStepped?: boolean;
}

export class JobQueue<R> implements ServerQueue<R> {
  readonly backend = "memory" as const;
  private readonly waiting: { job: Job<R>; task: Task<R> }[] = [];
  private running?: Running<R>;
  private readonly jobs = new Map<string, Job<R>>();
  private readonly finishedOrder: string[] = [];
  private readonly durationsMs: number[] = [];
  private accepting = true;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly options: JobQueueOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) {
      throw new RangeError(`queue capacity must be a positive integer, got ${options.capacity}`);
    }
  }

  get capacity(): number {
    return this.options.capacity;
  }

  get current(): Job<R> | undefined {
    return this.running?.job;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  get isAccepting(): boolean {
    return this.accepting;
  }

  get(id: string): Job<R> | undefined {
    return this.jobs.get(id);
  }

  async find(id: string): Promise<Job<R> | undefined> {
    return this.jobs.get(id);
  }

  async list(limit: number): Promise<Job<R>[]> {
    return [...this.jobs.values()].sort((a, b) => b.createdAt - a.createdAt).slice(0, limit);
  }

  health(): QueueHealth {
    return this.accepting
      ? { available: true }
      : { available: false, message: "the server is shutting down" };
  }

  async admin(): Promise<QueueAdmin> {
    const running = this.running ? 1 : 0;
    return {
      backend: "memory",
      ...this.health(),
      capacity: this.capacity,
      depth: this.waiting.length,
      running,
      routes: [{ route: "(this process)", waiting: this.waiting.length, running }],
      workers: [],
    };
  }

  /** Queues `task`; `id` is the job's id when the client chose one (A1111's force_task_id). */
  submit(task: Task<R>, id?: string): Job<R> {
    if (!this.accepting) throw new QueueClosedError();
    if (this.waiting.length >= this.options.capacity) {
      throw new QueueFullError(this.options.capacity, this.retryAfterSeconds());
    }
    if (id !== undefined && this.jobs.has(id)) throw new DuplicateJobIdError(id);
    const job = new Job<R>(task.kind, id);
    this.jobs.set(job.id, job);
    this.waiting.push({ job, task });
    job.position = this.waiting.length;
    job.emit({ type: "queued", position: job.position });
    this.pump();
    return job;
  }

  /** Drops a finished job whose result was delivered (A1111's synchronous calls): frees its images. */
  forget(id: string): void {
    if (this.jobs.get(id)?.isFinal) this.jobs.delete(id);
  }

  /** Cancels a waiting or running job; false when it is unknown or already finished. */
  cancel(id: string, reason = "cancelled by request"): boolean {
    const job = this.jobs.get(id);
    if (!job || job.isFinal) return false;
    const index = this.waiting.findIndex((w) => w.job === job);
    if (index >= 0) {
      this.waiting.splice(index, 1);
      job.finish("cancelled", { error: new JobCancelledError(reason) });
      this.remember(job);
      this.announcePositions();
      return true;
    }
    if (this.running?.job === job) {
      this.cancelReasons.set(job, reason);
      this.running.controller.abort("cancel" satisfies AbortReason);
      return true;
    }
    return false;
  }

  /** A1111 interrupt: stop the running job (when `id`, only if it is that one); it may still return what it has. */
  interrupt(id?: string): boolean {
    if (!this.running || (id !== undefined && this.running.job.id !== id)) return false;
    this.running.job.progress.interrupted = true;
    this.running.controller.abort("interrupt" satisfies AbortReason);
    return true;
  }

  /**
   * A1111 skip: stop the running job's current batch iteration only (it keeps what it has). A
   * skip that reaches an iteration before its first step is dropped, as A1111 drops one that
   * arrives between iterations: it was meant for the image whose progress the client saw, which
   * has just ended, and the fresh iteration would end with nothing to show.
   */
  skip(id?: string): boolean {
    const running = this.running;
    if (!running || (id !== undefined && running.job.id !== id)) return false;
    if (!running.iterationStepped) return true;
    running.job.progress.skipped = true;
    running.iteration?.abort("skip");
    return true;
  }

  /** Seconds until a place is likely free: the recent average job time per waiting job. */
  retryAfterSeconds(): number {
    const recent = this.durationsMs.slice(-8);
    const average = recent.length > 0 ? recent.reduce((a, b) => a + b, 0) / recent.length : 10_000;
    return Math.max(1, Math.ceil((average * Math.max(1, this.waiting.length)) / 1000));
  }

  /** Resolves when nothing runs or waits. */
  idle(): Promise<void> {
    if (!this.running && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stop accepting, cancel the waiting jobs, give the running one `graceMs` to finish, then cancel
   * it and wait until it has stopped.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.accepting = false;
    for (const { job } of [...this.waiting]) this.cancel(job.id, "the server is shutting down");
    const running = this.running?.job;
    if (!running) return;
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const outcome = await Promise.race([
      running.finished.then(
        () => "finished" as const,
        () => "finished" as const,
      ),
      graceOver,
    ]);
    clearTimeout(timer);
    if (outcome === "timeout") this.cancel(running.id, "the server is shutting down");
    await this.idle();
  }

  private readonly cancelReasons = new WeakMap<Job<R>, string>();

  private pump(): void {
    if (this.running) return;
    const next = this.waiting.shift();
    if (!next) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
      return;
    }
    const running: Running<R> = { job: next.job, controller: new AbortController() };
    this.running = running;
    next.job.status = "running";
    next.job.position = 0;
    next.job.startedAt = Date.now();
    next.job.emit({ type: "started" });
    this.announcePositions();
    void this.execute(running, next.task);
  }

  private async execute(running: Running<R>, task: Task<R>): Promise<void> {
    const { job, controller } = running;
    const context: JobContext = {
      signal: controller.signal,
      iterationSignal: () => {
        running.iteration = new AbortController();
        running.iterationStepped = false;
        job.progress.skipped = false;
        return AbortSignal.any([controller.signal, running.iteration.signal]);
      },
      progress: job.progress,
      emit: (event) => {
        if (event.type === "step") running.iterationStepped = true;
        job.emit(event);
      },
    };
    try {
      const result = await task.run(context);
      if (controller.signal.reason === "cancel") this.finishCancelled(job);
      else job.finish("done", { result });
    } catch (err) {
      if (controller.signal.aborted) this.finishCancelled(job);
      else job.finish("failed", { error: err instanceof Error ? err : new Error(String(err)) });
    } finally {
      this.durationsMs.push(Date.now() - (job.startedAt ?? job.createdAt));
      if (this.durationsMs.length > 32) this.durationsMs.shift();
      this.remember(job);
      this.running = undefined;
      this.pump();
    }
  }

  private finishCancelled(job: Job<R>): void {
    const reason =
      this.cancelReasons.get(job) ?? (job.progress.interrupted ? "interrupted" : "cancelled by request");
    job.finish("cancelled", { error: new JobCancelledError(reason) });
  }

  private announcePositions(): void {
    this.waiting.forEach(({ job }, i) => {
      if (job.position !== i + 1) {
        job.position = i + 1;
        job.emit({ type: "queued", position: job.position });
      }
    });
  }

  private remember(job: Job<R>): void {
    this.finishedOrder.push(job.id);
    const keep = this.options.retainFinished ?? 32;
    while (this.finishedOrder.length > keep) this.forget(this.finishedOrder.shift()!);
  }
}
