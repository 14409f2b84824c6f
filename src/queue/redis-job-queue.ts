/**
 * The API's side of the queue on Redis (`sdlite serve --queue redis://…`): generations go to the
 * BullMQ queue of their model (route) and wait there for a worker (job-worker.ts) that has it; this
 * process keeps a local Job per job it knows (a mirror), so the routes, the SSE stream, /progress
 * and the A1111 endpoints work as they do in one process.
 *
 * Mirrors learn steps and previews from the workers' pub/sub events, and states (running, done,
 * failed), results and positions by polling the jobs' BullMQ records: the records are the truth,
 * so a missed message or a restart of this process loses nothing. Jobs stay on Redis when this
 * process stops; any API process finds them by id. Work without a JSON form (model switches,
 * extras upscales) runs in this process, on an embedded JobQueue.
 */
import { randomUUID } from "node:crypto";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import {
  DuplicateJobIdError,
  Job,
  JobQueue,
  QueueClosedError,
  QueueFullError,
  type Task,
} from "../server/job-queue.js";
import type { ServerJobResult } from "../server/server-context.js";
import {
  JobDetachedError,
  type QueueAdmin,
  type QueueHealth,
  QueueUnavailableError,
  type ServerQueue,
} from "../server/server-queue.js";
import {
  bullId,
  CONTROL_CHANNEL,
  cancelKey,
  EVENTS_CHANNEL,
  PREFIX,
  queueName,
  ROUTES_KEY,
  sdliteId,
} from "./queue-keys.js";
import { redisOptions, safeUrl } from "./redis-url.js";
import { type ControlMessage, errorFromText, type QueuedJob, type WorkerEvent } from "./remote-job.js";
import { liveWorkers } from "./worker-registry.js";

type R = ServerJobResult;

export interface RedisJobQueueOptions {
  /** redis://[user:pass@]host:port[/db] */
  url: string;
  /** Most jobs waiting over every route. */
  capacity: number;
  /** How often job records are read (ms). */
  pollMs?: number;
  /** Finished jobs kept here for look-ups; older ones are read from Redis again when asked for. */
  retainFinished?: number;
  /** How long Redis keeps finished jobs (s). */
  keepFinishedSeconds?: number;
  log?: (line: string) => void;
}

interface Mirror {
  readonly job: Job<R>;
  readonly route: string;
  /** Added to BullMQ (false while the add is in flight). */
  added: boolean;
}

export class RedisJobQueue implements ServerQueue<R> {
  readonly backend = "redis" as const;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly queues = new Map<string, Queue>();
  private readonly mirrors = new Map<string, Mirror>();
  private readonly finishedOrder: string[] = [];
  private readonly local: JobQueue<R>;
  private readonly waitingByRoute = new Map<string, number>();
  private readonly runningByRoute = new Map<string, number>();
  private readonly durationsMs: number[] = [];
  /** Adds to BullMQ in flight, by job id. */
  private readonly adding = new Map<string, Promise<void>>();
  private accepting = true;
  private polling = false;
  private timer?: NodeJS.Timeout;
  private readonly log: (line: string) => void;
  private lastStatus = "";

  private constructor(private readonly options: RedisJobQueueOptions) {
    this.log = options.log ?? (() => {});
    // fail fast while Redis is away (503), instead of queueing commands until it is back
    this.redis = new Redis(options.url, {
      ...redisOptions(),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    });
    this.subscriber = new Redis(options.url, redisOptions());
    this.local = new JobQueue<R>({ capacity: options.capacity });
    for (const connection of [this.redis, this.subscriber]) connection.on("error", () => {});
    this.redis.on("ready", () => this.statusChanged());
    this.redis.on("close", () => this.statusChanged());
  }

  /** Connects (or fails with one line saying where Redis was looked for). */
  static async connect(options: RedisJobQueueOptions): Promise<RedisJobQueue> {
    const queue = new RedisJobQueue(options);
    await queue.ready();
    return queue;
  }

  private async ready(): Promise<void> {
    const url = safeUrl(this.options.url);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`cannot reach Redis at ${url} (is redis-server running?)`)),
        10_000,
      );
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      if (this.redis.status === "ready") done();
      else this.redis.once("ready", done);
    }).catch(async (err) => {
      this.redis.disconnect();
      this.subscriber.disconnect();
      throw err;
    });
    await this.subscriber.subscribe(EVENTS_CHANNEL);
    this.subscriber.on("message", (_channel, text: string) => this.onEvent(text));
    for (const route of await this.redis.smembers(ROUTES_KEY)) this.queueOf(route);
    this.timer = setInterval(() => void this.poll(), this.options.pollMs ?? 250);
  }

  private statusChanged(): void {
    const status = this.redis.status;
    if (status === this.lastStatus) return;
    const was = this.lastStatus;
    this.lastStatus = status;
    if (status === "ready" && was !== "") this.log(`Redis at ${safeUrl(this.options.url)} is back`);
    else if (status !== "ready" && was === "ready") {
      this.log(
        `Redis at ${safeUrl(this.options.url)} is unreachable: new jobs are refused (503) until it is back`,
      );
    }
  }

  private queueOf(route: string): Queue {
    let queue = this.queues.get(route);
    if (!queue) {
      queue = new Queue(queueName(route), { connection: this.redis, prefix: PREFIX });
      queue.on("error", () => {});
      this.queues.set(route, queue);
    }
    return queue;
  }

  get capacity(): number {
    return this.options.capacity;
  }

  get isAccepting(): boolean {
    return this.accepting;
  }

  get current(): Job<R> | undefined {
    let latest: Job<R> | undefined;
    for (const { job } of this.mirrors.values()) {
      if (job.status === "running" && (!latest || (job.startedAt ?? 0) > (latest.startedAt ?? 0)))
        latest = job;
    }
    return latest ?? this.local.current;
  }

  get waitingCount(): number {
    let n = this.local.waitingCount;
    for (const count of this.waitingByRoute.values()) n += count;
    for (const m of this.mirrors.values()) if (!m.added) n++;
    return n;
  }

  health(): QueueHealth {
    if (!this.accepting) return { available: false, message: "the server is shutting down" };
    if (this.redis.status === "ready") return { available: true };
    return {
      available: false,
      message: `the job queue is unavailable: Redis at ${safeUrl(this.options.url)} cannot be reached (${this.redis.status}); retrying`,
    };
  }

  submit(task: Task<R>, id?: string): Job<R> {
    if (!this.accepting) throw new QueueClosedError();
    if (!task.remote) {
      if (id !== undefined && this.mirrors.has(id)) throw new DuplicateJobIdError(id);
      return this.local.submit(task, id);
    }
    const health = this.health();
    if (!health.available) throw new QueueUnavailableError(health.message ?? "the job queue is unavailable");
    if (this.waitingCount >= this.capacity) throw new QueueFullError(this.capacity, this.retryAfterSeconds());
    if (id !== undefined && (this.mirrors.has(id) || this.local.get(id))) throw new DuplicateJobIdError(id);
    const { route } = task.remote;
    const job = new Job<R>(task.kind, id ?? randomUUID());
    const mirror: Mirror = { job, route, added: false };
    this.mirrors.set(job.id, mirror);
    job.position = (this.waitingByRoute.get(route) ?? 0) + this.pendingOn(route);
    job.emit({ type: "queued", position: job.position });
    const data: QueuedJob = {
      id: job.id,
      route,
      kind: task.kind,
      generation: task.remote.data as QueuedJob["generation"],
    };
    const adding = this.add(mirror, data, id !== undefined).finally(() => this.adding.delete(job.id));
    this.adding.set(job.id, adding);
    return job;
  }

  async accepted(id: string): Promise<void> {
    await this.adding.get(id);
  }

  private pendingOn(route: string): number {
    let n = 0;
    for (const m of this.mirrors.values()) if (!m.added && m.route === route) n++;
    return n;
  }

  private async add(mirror: Mirror, data: QueuedJob, clientId: boolean): Promise<void> {
    const { job, route } = mirror;
    const queue = this.queueOf(route);
    const keep = this.options.keepFinishedSeconds ?? 24 * 3600;
    try {
      if (clientId && (await this.redis.exists(queue.toKey(bullId(job.id))))) {
        throw new DuplicateJobIdError(job.id);
      }
      await this.redis.sadd(ROUTES_KEY, route);
      await queue.add(data.kind, data, {
        jobId: bullId(job.id),
        attempts: 1,
        removeOnComplete: { age: keep, count: 10_000 },
        removeOnFail: { age: keep, count: 10_000 },
      });
      mirror.added = true;
      this.waitingByRoute.set(route, (this.waitingByRoute.get(route) ?? 0) + 1);
    } catch (err) {
      mirror.added = true;
      if (job.isFinal) return;
      const error =
        err instanceof DuplicateJobIdError
          ? err
          : new QueueUnavailableError(`the job could not be queued on Redis: ${(err as Error).message}`);
      job.finish("failed", { error });
      this.remember(job.id);
    }
  }

  get(id: string): Job<R> | undefined {
    return this.mirrors.get(id)?.job ?? this.local.get(id);
  }

  async find(id: string): Promise<Job<R> | undefined> {
    const known = this.get(id);
    if (known) return known;
    if (this.redis.status !== "ready") return undefined;
    const routes = await this.redis.smembers(ROUTES_KEY);
    for (const route of routes) {
      const queue = this.queueOf(route);
      const name = await this.redis.hget(queue.toKey(bullId(id)), "name");
      if (name === null) continue;
      const job = new Job<R>(name, id);
      const mirror: Mirror = { job, route, added: true };
      this.mirrors.set(id, mirror);
      await this.sync(mirror, await this.waitingIds(route));
      return job;
    }
    return undefined;
  }

  async list(limit: number): Promise<Job<R>[]> {
    const found = new Map<string, Job<R>>();
    for (const job of await this.local.list(limit)) found.set(job.id, job);
    for (const { job } of this.mirrors.values()) found.set(job.id, job);
    if (this.redis.status === "ready") {
      for (const route of await this.redis.smembers(ROUTES_KEY)) {
        const ids = await this.queueOf(route).getRanges(["active", "wait", "completed", "failed"], 0, limit);
        for (const id of ids.map(sdliteId)) {
          if (found.has(id)) continue;
          const job = await this.find(id);
          if (job) found.set(id, job);
        }
      }
    }
    return [...found.values()].sort((a, b) => b.createdAt - a.createdAt).slice(0, limit);
  }

  forget(id: string): void {
    const m = this.mirrors.get(id);
    if (m?.job.isFinal) this.mirrors.delete(id);
    else this.local.forget(id);
  }

  cancel(id: string, reason = "cancelled by request"): boolean {
    const mirror = this.mirrors.get(id);
    if (!mirror) return this.local.cancel(id, reason);
    if (mirror.job.isFinal) return false;
    void this.cancelOnRedis(mirror, reason);
    return true;
  }

  private async cancelOnRedis(mirror: Mirror, reason: string): Promise<void> {
    const { job } = mirror;
    try {
      await this.redis.set(cancelKey(job.id), reason, "EX", 24 * 3600);
      const removed = await this.queueOf(mirror.route).remove(bullId(job.id));
      if (removed === 1) {
        this.finish(mirror, "cancelled", { reason });
        return;
      }
      // running: its worker stops it at the next step and fails it as cancelled
      await this.redis.publish(
        CONTROL_CHANNEL,
        JSON.stringify({ id: job.id, action: "cancel", reason } satisfies ControlMessage),
      );
    } catch (err) {
      this.log(`job ${job.id}: cancel failed: ${(err as Error).message}`);
    }
  }

  interrupt(id?: string): boolean {
    return (
      this.control("interrupt", id) || (id === undefined ? this.local.interrupt() : this.local.interrupt(id))
    );
  }

  skip(id?: string): boolean {
    return this.control("skip", id) || (id === undefined ? this.local.skip() : this.local.skip(id));
  }

  private control(action: "interrupt" | "skip", id?: string): boolean {
    const job = id === undefined ? this.current : this.mirrors.get(id)?.job;
    if (job?.status !== "running" || !this.mirrors.has(job.id)) return false;
    if (action === "interrupt") job.progress.interrupted = true;
    this.redis
      .publish(CONTROL_CHANNEL, JSON.stringify({ id: job.id, action } satisfies ControlMessage))
      .catch(() => {});
    return true;
  }

  retryAfterSeconds(): number {
    const recent = this.durationsMs.slice(-8);
    const average = recent.length > 0 ? recent.reduce((a, b) => a + b, 0) / recent.length : 10_000;
    let running = 0;
    for (const n of this.runningByRoute.values()) running += n;
    return Math.max(1, Math.ceil((average * Math.max(1, this.waitingCount)) / Math.max(1, running) / 1000));
  }

  async idle(): Promise<void> {
    await this.local.idle();
    while ([...this.mirrors.values()].some((m) => !m.job.isFinal)) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Stops taking jobs; jobs on Redis go on (workers run them), their waiters here are answered 503. */
  async shutdown(graceMs: number): Promise<void> {
    if (!this.accepting && !this.timer) return;
    this.accepting = false;
    await Promise.allSettled([...this.adding.values()]); // a job answered 202 must be on Redis
    await this.local.shutdown(graceMs);
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && [...this.mirrors.values()].some((m) => m.job.status === "running")) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    clearInterval(this.timer);
    this.timer = undefined;
    while (this.polling) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const m of this.mirrors.values()) {
      if (!m.job.isFinal) m.job.finish("failed", { error: new JobDetachedError(m.job.id) });
    }
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.subscriber.disconnect();
    this.redis.disconnect();
  }

  async admin(): Promise<QueueAdmin> {
    const health = this.health();
    const routes: { route: string; waiting: number; running: number }[] = [];
    let workers: QueueAdmin["workers"] = [];
    if (this.redis.status === "ready") {
      for (const route of (await this.redis.smembers(ROUTES_KEY)).sort()) {
        const queue = this.queueOf(route);
        routes.push({ route, waiting: await queue.getWaitingCount(), running: await queue.getActiveCount() });
      }
      workers = await liveWorkers(this.redis);
    }
    const local = await this.local.admin();
    return {
      backend: "redis",
      ...health,
      capacity: this.capacity,
      depth: routes.reduce((n, r) => n + r.waiting, 0) + local.depth,
      running: routes.reduce((n, r) => n + r.running, 0) + local.running,
      routes,
      workers,
    };
  }

  /** A worker's step, preview or start, for the job's mirror. */
  private onEvent(text: string): void {
    let event: WorkerEvent;
    try {
      event = JSON.parse(text) as WorkerEvent;
    } catch {
      return;
    }
    const mirror = this.mirrors.get(event.id);
    if (!mirror || mirror.job.isFinal) return;
    const { job } = mirror;
    job.worker = event.worker;
    this.markRunning(job);
    Object.assign(job.progress, event.progress);
    if (event.type === "step" && event.step !== undefined && event.total !== undefined) {
      job.emit({
        type: "step",
        step: event.step,
        total: event.total,
        jobNo: event.progress.jobNo,
        jobCount: event.progress.jobCount,
      });
    } else if (event.type === "preview" && event.image !== undefined) {
      job.progress.currentImage = event.image;
      job.emit({ type: "preview", image: event.image, step: event.step ?? 0 });
    }
  }

  private markRunning(job: Job<R>, startedAt = Date.now()): void {
    if (job.status !== "queued") return;
    job.status = "running";
    job.position = 0;
    job.startedAt = startedAt;
    job.emit({ type: "started" });
  }

  /** One round: counts and order of the waiting jobs per route, then the unfinished mirrors' records. */
  private async poll(): Promise<void> {
    if (this.polling || this.redis.status !== "ready") return;
    this.polling = true;
    try {
      const waiting = new Map<string, string[]>();
      for (const [route, queue] of this.queues) {
        const ids = await this.waitingIds(route);
        waiting.set(route, ids);
        this.waitingByRoute.set(route, ids.length);
        this.runningByRoute.set(route, await queue.getActiveCount());
      }
      for (const mirror of [...this.mirrors.values()]) {
        if (mirror.added && !mirror.job.isFinal) await this.sync(mirror, waiting.get(mirror.route) ?? []);
      }
    } catch {
      // Redis went away mid-round: the next round after it is back catches up
    } finally {
      this.polling = false;
    }
  }

  private async waitingIds(route: string): Promise<string[]> {
    return (await this.queueOf(route).getRanges(["wait", "prioritized"], 0, -1, true)).map(sdliteId);
  }

  /** The mirror brought up to its BullMQ record. */
  private async sync(mirror: Mirror, waitingIds: readonly string[]): Promise<void> {
    const { job } = mirror;
    const index = waitingIds.indexOf(job.id);
    if (index >= 0) {
      if (job.status === "running") return; // moved back after a stall: it starts again elsewhere
      if (job.position !== index + 1) {
        job.position = index + 1;
        job.emit({ type: "queued", position: job.position });
      }
      return;
    }
    const key = this.queueOf(mirror.route).toKey(bullId(job.id));
    const [processedOn, finishedOn, failedReason, timestamp] = await this.redis.hmget(
      key,
      "processedOn",
      "finishedOn",
      "failedReason",
      "timestamp",
    );
    if (timestamp === null) {
      // gone: removed (a cancel from another API process) or expired
      const reason = (await this.redis.get(cancelKey(job.id))) ?? "the job is no longer on Redis";
      this.finish(mirror, "cancelled", { reason });
      return;
    }
    if (job.status === "queued" && job.createdAt > Number(timestamp)) {
      // found by id, not submitted here: its own creation time
      (job as { createdAt: number }).createdAt = Number(timestamp);
    }
    if (finishedOn !== null) {
      if (processedOn !== null) this.markRunning(job, Number(processedOn));
      if (failedReason !== null && failedReason !== "") {
        this.finish(mirror, "failed", { error: errorFromText(failedReason) });
      } else {
        const text = await this.redis.hget(key, "returnvalue");
        this.finish(mirror, "done", { result: text ? (JSON.parse(text) as R) : undefined });
      }
      job.finishedAt = Number(finishedOn);
    } else if (processedOn !== null) {
      this.markRunning(job, Number(processedOn));
    }
  }

  private finish(
    mirror: Mirror,
    status: "done" | "failed" | "cancelled",
    outcome: { result?: R; error?: Error; reason?: string },
  ): void {
    const { job } = mirror;
    if (job.isFinal) return;
    let { error } = outcome;
    if (status === "cancelled" && !error)
      error = errorFromText(
        `sdlite-error:${JSON.stringify({ status: 409, kind: "Cancelled", message: "", cancelled: outcome.reason ?? "cancelled" })}`,
      );
    if (status === "failed" && error?.name === "JobCancelledError") status = "cancelled";
    job.finish(status, { result: outcome.result, error });
    if (job.startedAt) {
      this.durationsMs.push(Date.now() - job.startedAt);
      if (this.durationsMs.length > 32) this.durationsMs.shift();
    }
    this.remember(job.id);
  }

  private remember(id: string): void {
    this.finishedOrder.push(id);
    const keep = this.options.retainFinished ?? 256;
    while (this.finishedOrder.length > keep) {
      const old = this.finishedOrder.shift() as string;
      if (this.mirrors.get(old)?.job.isFinal) this.mirrors.delete(old);
    }
  }
}
