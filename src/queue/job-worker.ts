/**
 * A worker process (`sdlite worker --queue redis://… -m MODEL`): takes generations from the BullMQ
 * queue of each model it has and runs them with the server's own runner (runRemoteGeneration, the
 * same code an in-process server runs), one at a time; publishes the start, steps and previews;
 * returns the A1111 response (PNGs with their infotext) as the job's result on Redis.
 *
 * A worker that dies mid-job stops renewing its BullMQ lock; another worker's stalled-job check
 * puts the job back and runs it again (at least once). The result is the job's own record, written
 * once per job id, and the same job gives the same images, so a second run changes nothing.
 * Cancel, interrupt and skip arrive on a pub/sub channel; a time-out stops the job like a cancel.
 */

import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { UnrecoverableError, Worker } from "bullmq";
import { Redis } from "ioredis";
import { GraphCache } from "../cache/graph-cache.js";
import { InProcessExecutor } from "../executor/in-process-executor.js";
import { GENERATION_JOB_VERSION } from "../pipeline/generation-job.js";
import { runGenerationJob } from "../pipeline/run-generation-job.js";
import type { GenerationResult } from "../server/generation-task.js";
import type { AbortReason, JobContext, JobProgress } from "../server/job-queue.js";
import { type RemoteGeneration, runRemoteGeneration } from "../server/remote-generation.js";
import { toHttpError } from "../server/server-context.js";
import type { WorkerView } from "../server/server-queue.js";
import { CONTROL_CHANNEL, cancelKey, EVENTS_CHANNEL, PREFIX, queueName } from "./queue-keys.js";
import { redisOptions } from "./redis-url.js";
import { type ControlMessage, errorText, type QueuedJob, type WorkerEvent } from "./remote-job.js";
import { announceWorker, HEARTBEAT_MS, retireWorker } from "./worker-registry.js";

export interface WorkerModel {
  /** The route: the model's name as the API calls it (file stem, folder name or repo id). */
  readonly route: string;
  /** Where this machine has it. */
  readonly path: string;
}

export interface JobWorkerOptions {
  url: string;
  models: readonly WorkerModel[];
  /** "cpu", or an onnxruntime execution provider name (cuda, dml, coreml, webgpu…). */
  device: string;
  threads?: number;
  /** BullMQ's job lock: a job whose worker is silent this long is run again elsewhere (ms). */
  lockMs?: number;
  heartbeatMs?: number;
  log?: (line: string) => void;
}

export interface RunningWorker {
  readonly id: string;
  /** Finishes the running job, then leaves (unannounced). */
  close(): Promise<void>;
}

interface Active {
  readonly id: string;
  readonly controller: AbortController;
  iteration?: AbortController;
  stepped: boolean;
  readonly progress: JobProgress;
  cancelReason?: string;
}

export async function startWorker(options: JobWorkerOptions): Promise<RunningWorker> {
  const log = options.log ?? (() => {});
  const id = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const redis = new Redis(options.url, { ...redisOptions(), maxRetriesPerRequest: null });
  const subscriber = new Redis(options.url, { ...redisOptions(), maxRetriesPerRequest: null });
  redis.on("error", () => {});
  subscriber.on("error", () => {});
  const graphCache = new GraphCache();
  // the worker is its own process: its jobs run on this thread (the API process stays responsive)
  const runner = new InProcessExecutor({
    maxPipelines: Math.max(1, options.models.length),
    local: { graphCache },
  });
  const startedAt = new Date().toISOString();
  let active: Active | undefined;
  let jobsDone = 0;
  // one job at a time in this process, whichever model's queue it came from
  let turn: Promise<void> = Promise.resolve();

  const view = (): WorkerView => ({
    id,
    host: hostname(),
    pid: process.pid,
    models: options.models.map((m) => m.route),
    device: options.device,
    started_at: startedAt,
    last_seen: new Date().toISOString(),
    job: active?.id ?? null,
    jobs_done: jobsDone,
  });
  const heartbeat = () => announceWorker(redis, view()).catch(() => {});
  await heartbeat();
  const beat = setInterval(heartbeat, options.heartbeatMs ?? HEARTBEAT_MS);

  await subscriber.subscribe(CONTROL_CHANNEL);
  subscriber.on("message", (_channel, text: string) => {
    let message: ControlMessage;
    try {
      message = JSON.parse(text) as ControlMessage;
    } catch {
      return;
    }
    if (!active || active.id !== message.id) return;
    if (message.action === "cancel") {
      active.cancelReason = message.reason ?? "cancelled by request";
      active.controller.abort("cancel" satisfies AbortReason);
    } else if (message.action === "interrupt") {
      active.progress.interrupted = true;
      active.controller.abort("interrupt" satisfies AbortReason);
    } else if (active.stepped) {
      active.progress.skipped = true;
      active.iteration?.abort("skip");
    }
  });

  const publish = (event: Omit<WorkerEvent, "worker" | "progress">, progress: JobProgress) => {
    const { currentImage: _image, ...rest } = progress;
    redis.publish(EVENTS_CHANNEL, JSON.stringify({ ...event, worker: id, progress: rest })).catch(() => {});
  };

  const runtime = {
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.device !== "cpu" ? { executionProviders: [options.device, "cpu"] } : {}),
  };

  const runJob = async (data: QueuedJob, model: WorkerModel): Promise<GenerationResult> => {
    const cancelled = await redis.get(cancelKey(data.id));
    if (cancelled !== null) throw cancelError(cancelled);
    const progress: JobProgress = {
      jobCount: 1,
      jobNo: 0,
      samplingStep: 0,
      samplingSteps: 0,
      interrupted: false,
      skipped: false,
    };
    const controller = new AbortController();
    const current: Active = { id: data.id, controller, stepped: false, progress };
    active = current;
    void heartbeat();
    log(`job ${data.id} (${data.kind}, ${model.route}) started`);
    publish({ id: data.id, type: "started" }, progress);
    const timeoutMs = data.generation.timeoutMs;
    const timer =
      timeoutMs !== undefined
        ? setTimeout(() => {
            current.cancelReason = `timed out after ${timeoutMs / 1000} s`;
            controller.abort("cancel" satisfies AbortReason);
          }, timeoutMs)
        : undefined;
    const context: JobContext = {
      signal: controller.signal,
      iterationSignal: () => {
        current.iteration = new AbortController();
        current.stepped = false;
        progress.skipped = false;
        return AbortSignal.any([controller.signal, current.iteration.signal]);
      },
      progress,
      emit: (event) => {
        if (event.type === "step") {
          current.stepped = true;
          publish({ id: data.id, type: "step", step: event.step, total: event.total }, progress);
        } else publish({ id: data.id, type: "preview", step: event.step, image: event.image }, progress);
      },
    };
    // this machine's copy of the model and its own threads and device; the rest as the API sent it
    const job = data.generation.job;
    const generation: RemoteGeneration = {
      ...data.generation,
      job: {
        ...job,
        model: { ...job.model, path: model.path },
        engine: { ...job.engine, runtime: { ...job.engine.runtime, ...runtime } },
      },
    };
    try {
      const result = await runRemoteGeneration(generation, runner, context);
      if (controller.signal.reason === "cancel")
        throw cancelError(current.cancelReason ?? "cancelled by request");
      jobsDone++;
      log(`job ${data.id} done`);
      return result;
    } catch (err) {
      if (err instanceof UnrecoverableError) throw err;
      if (controller.signal.aborted) {
        log(`job ${data.id} cancelled`);
        throw cancelError(
          current.cancelReason ?? (progress.interrupted ? "interrupted" : "cancelled by request"),
        );
      }
      const http = toHttpError(err);
      log(`job ${data.id} failed: ${http.message}`);
      throw new UnrecoverableError(
        errorText({ status: http.statusCode, kind: http.kind, message: http.message }),
      );
    } finally {
      clearTimeout(timer);
      if (active === current) active = undefined;
      void heartbeat();
    }
  };

  // a first job builds the graphs (synchronous work that could outlast the job lock and have the
  // job taken for stalled): done here, before any job is taken; later opens read the graph cache
  for (const model of options.models) {
    const started = Date.now();
    await runGenerationJob(
      {
        version: GENERATION_JOB_VERSION,
        model: { path: model.path },
        loras: [],
        request: { prompt: "", sampler: "Euler", steps: 1, guidance: 1, seed: 0, width: 64, height: 64 },
        engine: { runtime },
      },
      { local: { graphCache }, hashModel: false },
    );
    log(`${model.route} ready (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }

  const workers = options.models.map((model) => {
    const worker = new Worker<QueuedJob, GenerationResult>(
      queueName(model.route),
      async (bullJob) => {
        const mine = turn.then(() => runJob(bullJob.data, model));
        turn = mine.then(
          () => {},
          () => {},
        );
        return mine;
      },
      {
        connection: redis,
        prefix: PREFIX,
        concurrency: 1,
        name: id,
        lockDuration: options.lockMs ?? 30_000,
        stalledInterval: options.lockMs ?? 30_000,
        maxStalledCount: 5,
      },
    );
    worker.on("error", () => {});
    return worker;
  });

  return {
    id,
    async close() {
      await Promise.allSettled(workers.map((w) => w.close()));
      clearInterval(beat);
      await retireWorker(redis, id).catch(() => {});
      await runner.close();
      subscriber.disconnect();
      redis.disconnect();
    },
  };
}

function cancelError(reason: string): UnrecoverableError {
  const status = /^timed out/.test(reason) ? 504 : 409;
  const kind = status === 504 ? "JobTimeout" : "Cancelled";
  return new UnrecoverableError(
    errorText({ status, kind, message: `job cancelled: ${reason}`, cancelled: reason }),
  );
}
