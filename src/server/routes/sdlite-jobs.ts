/**
 * sdlite's own job API: submit without waiting, poll or stream (server-sent events) the job's
 * position, steps and previews, fetch the result, cancel.
 *
 *   POST   /sdlite/v1/jobs             body of txt2img/img2img + "kind" → 202 {id, position}
 *   GET    /sdlite/v1/jobs/:id         status, position, progress; result when done
 *   GET    /sdlite/v1/jobs/:id/events  text/event-stream: queued, started, step, preview, done | error | cancelled
 *   GET    /sdlite/v1/jobs/:id/result  200 result · 202 still waiting · 4xx/5xx how it ended
 *   DELETE /sdlite/v1/jobs/:id         cancel a queued or running job
 *   GET    /sdlite/v1/jobs             the known jobs, newest first (?limit=)
 *   GET    /sdlite/v1/admin/queue      queue depth per model and the workers (heartbeats)
 *
 * A job's `state` is what sd.cpp's and AI Horde's users expect (queued, generating, completed,
 * failed, cancelled); `status` is the older name set (running, done) kept for existing clients.
 */
import { PassThrough } from "node:stream";
import type { FastifyInstance } from "fastify";
import { callerKey } from "../caller-key.js";
import type { GenerationResult } from "../generation-task.js";
import { a1111ErrorBody, HttpError } from "../http-error.js";
import type { Job, JobEvent } from "../job-queue.js";
import { errorSchema, jobBodySchema, jobIdParamsSchema } from "../schemas.js";
import { type ServerContext, type ServerJobResult, toHttpError } from "../server-context.js";
import { checkedWebhook } from "../webhook.js";

const tags = ["sdlite jobs"];
/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;

type IdParams = { Params: { id: string } };

function resultBody(result: ServerJobResult | undefined) {
  if (!result || (result.kind !== "txt2img" && result.kind !== "img2img")) return result;
  const r = result as GenerationResult;
  return { images: r.images, parameters: r.parameters, info: r.info };
}

function errorBody(job: Job<ServerJobResult>) {
  const http = toHttpError(job.error);
  return { status: http.statusCode, ...a1111ErrorBody(http.kind, http.message) };
}

const STATES = {
  queued: "queued",
  running: "generating",
  done: "completed",
  failed: "failed",
  cancelled: "cancelled",
};

/** Overall progress from 0 to 1: iterations done and steps of the current one. */
function fraction(job: Job<ServerJobResult>): number {
  if (job.status === "done") return 1;
  const p = job.progress;
  if (p.jobCount < 1) return 0;
  const step = p.samplingSteps > 0 ? p.samplingStep / p.samplingSteps : 0;
  return Math.min(1, (p.jobNo + step) / p.jobCount);
}

function jobView(job: Job<ServerJobResult>, withResult = true) {
  const p = job.progress;
  return {
    id: job.id,
    kind: job.kind,
    state: STATES[job.status],
    status: job.status,
    position: job.position,
    created_at: new Date(job.createdAt).toISOString(),
    started_at: job.startedAt ? new Date(job.startedAt).toISOString() : null,
    finished_at: job.finishedAt ? new Date(job.finishedAt).toISOString() : null,
    progress: {
      fraction: fraction(job),
      step: p.samplingStep,
      total: p.samplingSteps,
      job_no: p.jobNo,
      job_count: p.jobCount,
    },
    worker: job.worker ?? null,
    ...(job.status === "done" && withResult ? { result: resultBody(job.result) } : {}),
    ...(job.status === "failed" || job.status === "cancelled" ? { error: errorBody(job) } : {}),
  };
}

/** One server-sent event; `data` is JSON on one line. */
function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function eventToSse(job: Job<ServerJobResult>, event: JobEvent<ServerJobResult>): string {
  switch (event.type) {
    case "queued":
      return sse("queued", { position: event.position });
    case "started":
      return sse("started", { id: job.id });
    case "step":
      return sse("step", {
        step: event.step,
        total: event.total,
        job_no: event.jobNo,
        job_count: event.jobCount,
      });
    case "preview":
      return sse("preview", { image: event.image, step: event.step });
    case "done":
      return sse("done", resultBody(event.result));
    case "error":
      return sse("error", errorBody(job));
    case "cancelled":
      return sse("cancelled", { reason: event.reason });
  }
}

export function sdliteJobRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const findJob = async (id: string) => {
    const job = await ctx.queue.find(id);
    if (!job) throw new HttpError(404, `no job ${id} (finished jobs are kept for a while, then forgotten)`);
    return job;
  };

  app.post<{ Body: Record<string, unknown> }>(
    "/sdlite/v1/jobs",
    {
      schema: {
        tags,
        summary: "Queue a txt2img or img2img job without waiting for it",
        body: jobBodySchema,
        response: {
          202: { type: "object", properties: { id: { type: "string" }, position: { type: "integer" } } },
          422: errorSchema,
          429: errorSchema,
          503: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { webhook, ...body } = request.body;
      const images = body.init_images;
      const kind =
        (body.kind as string | undefined) ??
        (Array.isArray(images) && images.length > 0 ? "img2img" : "txt2img");
      const job = ctx.submitGeneration(ctx.plan(kind as "txt2img" | "img2img", body), undefined, {
        owner: callerKey(request),
        webhook: checkedWebhook(webhook),
      });
      await ctx.queue.accepted?.(job.id);
      if (job.status === "failed") throw toHttpError(job.error);
      reply.code(202);
      return { id: job.id, position: job.position };
    },
  );

  app.get<{ Querystring: { limit?: number } }>(
    "/sdlite/v1/jobs",
    {
      schema: {
        tags,
        summary: "The known jobs, newest first, without their images",
        querystring: {
          type: "object",
          properties: { limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 } },
        },
      },
    },
    async (request) => {
      const jobs = await ctx.queue.list(request.query.limit ?? 100);
      return { jobs: jobs.map((job) => jobView(job, false)) };
    },
  );

  app.get(
    "/sdlite/v1/admin/queue",
    {
      schema: {
        tags,
        summary:
          "Queue depth per model, running jobs and the workers with their models, device and last heartbeat",
      },
    },
    async () => ctx.queue.admin(),
  );

  app.get<IdParams>(
    "/sdlite/v1/jobs/:id",
    {
      schema: {
        tags,
        summary: "A job's status, position and progress; its result when done",
        params: jobIdParamsSchema,
      },
    },
    async (request) => jobView(await findJob(request.params.id)),
  );

  app.get<IdParams>(
    "/sdlite/v1/jobs/:id/result",
    { schema: { tags, summary: "A finished job's images and info", params: jobIdParamsSchema } },
    async (request, reply) => {
      const job = await findJob(request.params.id);
      if (job.status === "done") return resultBody(job.result);
      if (job.status === "failed" || job.status === "cancelled") throw toHttpError(job.error);
      reply.code(202);
      return { id: job.id, status: job.status, position: job.position };
    },
  );

  app.delete<IdParams>(
    "/sdlite/v1/jobs/:id",
    { schema: { tags, summary: "Cancel a queued or running job", params: jobIdParamsSchema } },
    async (request) => {
      const job = await findJob(request.params.id);
      if (!ctx.queue.cancel(job.id))
        throw new HttpError(
          409,
          `job ${job.id} has already ${job.status === "done" ? "finished" : job.status}`,
        );
      return { id: job.id, status: job.status === "running" ? "cancelling" : job.status };
    },
  );

  app.get<IdParams>(
    "/sdlite/v1/jobs/:id/events",
    {
      schema: {
        tags,
        summary:
          "Server-sent events: queued {position}, started, step {step,total}, preview {image}, done {images,info} | error | cancelled",
        params: jobIdParamsSchema,
      },
    },
    async (request, reply) => {
      const job = await findJob(request.params.id);
      const stream = new PassThrough();
      reply
        .header("content-type", "text/event-stream; charset=utf-8")
        .header("cache-control", "no-cache")
        .header("x-accel-buffering", "no");
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        clearInterval(keepalive);
        unsubscribe();
        stream.end();
      };
      const write = (text: string) => {
        if (!closed) stream.write(text);
      };
      const keepalive = setInterval(() => write(": keep-alive\n\n"), KEEPALIVE_MS);
      const unsubscribe = job.subscribe((event) => {
        write(eventToSse(job, event));
        if (event.type === "done" || event.type === "error" || event.type === "cancelled") close();
      });
      reply.raw.on("close", close);
      // what happened before the client connected
      if (job.status === "queued") write(sse("queued", { position: job.position }));
      else if (job.status === "running") {
        write(sse("started", { id: job.id }));
        if (job.lastStep) write(eventToSse(job, job.lastStep));
      } else {
        if (job.status === "done") write(sse("done", resultBody(job.result)));
        else if (job.status === "failed") write(sse("error", errorBody(job)));
        else write(sse("cancelled", { reason: job.error?.message ?? "cancelled" }));
        close();
      }
      return reply.send(stream);
    },
  );
}
