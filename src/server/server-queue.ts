/**
 * What the server needs from a queue, whoever runs the jobs: the in-process JobQueue (the embedded
 * default) or a queue on Redis whose workers are other processes (src/queue/). Routes and the
 * ServerContext see only this. A task that may run elsewhere carries a `remote` form: JSON and the
 * routing key of the workers that can take it; a queue on Redis runs tasks without one in this
 * process.
 */
import type { Job, Task } from "./job-queue.js";

/** A task as JSON for another process: `route` picks the workers (the model's name). */
export interface RemoteWork {
  readonly route: string;
  readonly data: unknown;
}

export interface QueueHealth {
  /** false: new jobs are refused with 503 and the health check says why. */
  readonly available: boolean;
  readonly message?: string;
}

/** A worker process as it announces itself (heartbeats). */
export interface WorkerView {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly models: readonly string[];
  readonly device: string;
  readonly started_at: string;
  readonly last_seen: string;
  /** The job it runs now, if any. */
  readonly job: string | null;
  readonly jobs_done: number;
}

export interface QueueAdmin {
  readonly backend: "memory" | "redis";
  readonly available: boolean;
  readonly message?: string;
  readonly capacity: number;
  /** Waiting jobs, over every route. */
  readonly depth: number;
  readonly running: number;
  /** Per route (model): waiting and running. */
  readonly routes: readonly { route: string; waiting: number; running: number }[];
  readonly workers: readonly WorkerView[];
}

export interface ServerQueue<R> {
  readonly backend: "memory" | "redis";
  readonly capacity: number;
  /** The running job this process knows best (A1111's /progress without an owner). */
  readonly current: Job<R> | undefined;
  readonly waitingCount: number;
  readonly isAccepting: boolean;
  /** Throws QueueFullError, QueueClosedError, DuplicateJobIdError or QueueUnavailableError. */
  submit(task: Task<R>, id?: string): Job<R>;
  /**
   * Resolves once the job `submit` returned is safely stored (a queue on Redis adds it
   * asynchronously); it may have failed by then (the store refused it). Absent: at once.
   */
  accepted?(id: string): Promise<void>;
  get(id: string): Job<R> | undefined;
  /** get(), or a job this process has not seen (submitted by another API process, or before a restart). */
  find(id: string): Promise<Job<R> | undefined>;
  /** Known jobs, newest first. */
  list(limit: number): Promise<Job<R>[]>;
  forget(id: string): void;
  cancel(id: string, reason?: string): boolean;
  /** A1111 interrupt / skip: of the job `id`, or of the running one. */
  interrupt(id?: string): boolean;
  skip(id?: string): boolean;
  retryAfterSeconds(): number;
  idle(): Promise<void>;
  shutdown(graceMs: number): Promise<void>;
  health(): QueueHealth;
  admin(): Promise<QueueAdmin>;
}

/** The queue's store cannot be reached: 503, and the health check says so. */
export class QueueUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QueueUnavailableError";
  }
}

/** This API process stops while its job goes on elsewhere: the waiter gets 503, the job stays queued. */
export class JobDetachedError extends Error {
  constructor(id: string) {
    super(`the API server stopped; job ${id} stays queued (GET /sdlite/v1/jobs/${id} on any API server)`);
    this.name = "JobDetachedError";
  }
}
