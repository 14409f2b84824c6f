/**
 * The A1111 generation endpoints: txt2img and img2img (queued, answered when done), and the
 * controls around the running job: progress, interrupt, skip.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { callerKey } from "../caller-key.js";
import type { GenerationResult } from "../generation-task.js";
import { invalidRequest } from "../http-error.js";
import { progressView, taskProgress } from "../progress-view.js";
import {
  errorSchema,
  generationResponseSchema,
  img2imgBodySchema,
  internalProgressBodySchema,
  internalProgressResponseSchema,
  progressResponseSchema,
  txt2imgBodySchema,
} from "../schemas.js";
import { type ServerContext, toHttpError } from "../server-context.js";

type Body = Record<string, unknown>;

/** A1111's force_task_id: the client's id for its job, to follow it with /internal/progress. */
function forcedTaskId(body: Body): string | undefined {
  const id = body.force_task_id;
  if (id === undefined || id === null || id === "") return undefined;
  if (typeof id !== "string" || id.length > 128 || !/^[\w.:-]+$/.test(id)) {
    throw invalidRequest("force_task_id must be up to 128 letters, digits, '_', '-', '.' or ':'");
  }
  return id;
}

const errors = {
  404: errorSchema,
  409: errorSchema,
  422: errorSchema,
  429: errorSchema,
  500: errorSchema,
  503: errorSchema,
};

export function a1111GenerationRoutes(app: FastifyInstance, ctx: ServerContext): void {
  /**
   * The job /progress, /interrupt and /skip are about: in one process the running one (as A1111);
   * with workers elsewhere, where many run at once, the caller's own unfinished job.
   */
  const ownJobId = (request: FastifyRequest): string | undefined => {
    if (ctx.queue.backend === "memory") return undefined;
    const job = ctx.ownJob(callerKey(request));
    return job && !job.isFinal ? job.id : "";
  };

  const generationRoute = (kind: "txt2img" | "img2img", bodySchema: object, summary: string) =>
    app.post<{ Body: Body }>(
      `/sdapi/v1/${kind}`,
      {
        schema: {
          tags: ["A1111"],
          summary,
          body: bodySchema,
          response: { 200: generationResponseSchema, ...errors },
        },
      },
      async (request) => {
        const taskId = forcedTaskId(request.body);
        const plan = ctx.plan(kind, request.body);
        const job = ctx.submitGeneration(plan, taskId, { owner: callerKey(request) });
        let result: GenerationResult;
        try {
          result = (await job.finished) as GenerationResult;
        } catch (err) {
          throw toHttpError(err);
        } finally {
          ctx.queue.forget(job.id); // answered here: nobody will ask for it again
        }
        return { images: result.images, parameters: result.parameters, info: result.info };
      },
    );
  generationRoute("txt2img", txt2imgBodySchema, "Text to image (queued; answers when the image is done)");
  generationRoute("img2img", img2imgBodySchema, "Image to image and inpainting (queued)");

  app.get<{ Querystring: { skip_current_image?: boolean } }>(
    "/sdapi/v1/progress",
    {
      schema: {
        tags: ["A1111"],
        summary: "Progress of the running job, with a cheap latent preview",
        querystring: {
          type: "object",
          properties: { skip_current_image: { type: "boolean", default: false } },
        },
        response: { 200: progressResponseSchema },
      },
    },
    async (request) => {
      const own = ownJobId(request);
      const job = own === undefined ? ctx.queue.current : own ? ctx.queue.get(own) : undefined;
      return progressView(job, Date.now(), { skipCurrentImage: request.query.skip_current_image });
    },
  );

  app.post<{ Body: { id_task?: string | null; live_preview?: boolean | null } }>(
    "/internal/progress",
    {
      schema: {
        tags: ["A1111"],
        summary:
          "A1111's task progress: a request sent with force_task_id is queued (with its place) or active",
        body: internalProgressBodySchema,
        response: { 200: internalProgressResponseSchema },
      },
    },
    async (request) => {
      const id = request.body?.id_task;
      return taskProgress(typeof id === "string" ? ctx.queue.get(id) : undefined, {
        waiting: ctx.queue.waitingCount,
        livePreview: request.body?.live_preview !== false,
        now: Date.now(),
      });
    },
  );

  app.post(
    "/sdapi/v1/interrupt",
    { schema: { tags: ["A1111"], summary: "Stop the running job; it returns what it has" } },
    async (request) => {
      const own = ownJobId(request);
      if (own !== "") ctx.queue.interrupt(own);
      return {};
    },
  );

  app.post(
    "/sdapi/v1/skip",
    { schema: { tags: ["A1111"], summary: "Stop the running job's current batch iteration" } },
    async (request) => {
      const own = ownJobId(request);
      if (own !== "") ctx.queue.skip(own);
      return {};
    },
  );
}
