/**
 * A1111's upscaling endpoints: GET /sdapi/v1/upscalers (None, Lanczos, Nearest and the models in
 * the upscalers folder), POST /sdapi/v1/extra-single-image (queued like a generation; answers
 * {html_info, image} when done) and POST /sdapi/v1/extra-batch-images (the same settings for every
 * image of `imageList`, one queued job; answers {html_info, images}). Bad input is refused before
 * queueing, with the field named.
 */
import type { FastifyInstance } from "fastify";
import { LATENT_UPSCALE_MODES } from "../../pipeline/latent-upscale.js";
import { toA1111Upscaler, type UpscalerCatalog } from "../../upscale/upscaler-catalog.js";
import { parseExtrasBatchRequest, parseExtrasRequest } from "../extras-request.js";
import { errorSchema } from "../schemas.js";
import { type ServerContext, toHttpError } from "../server-context.js";
import {
  type BatchUpscaleResult,
  batchUpscaleTask,
  type UpscaleResult,
  upscaleTask,
} from "../upscale-task.js";

const tags = ["A1111"];
const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, "null"], ...extra });

const extrasBodySchema = {
  type: "object",
  properties: {
    image: nullable("string", { description: "base64 PNG or JPEG (data URLs allowed)" }),
    resize_mode: nullable("integer", {
      default: 0,
      description: "0: upscale by upscaling_resize; 1: to upscaling_resize_w x _h",
    }),
    show_extras_results: nullable("boolean"),
    gfpgan_visibility: nullable("number", {
      default: 0,
      description: "face restoration is not supported: 0 only",
    }),
    codeformer_visibility: nullable("number", {
      default: 0,
      description: "face restoration is not supported: 0 only",
    }),
    codeformer_weight: nullable("number"),
    upscaling_resize: nullable("number", { default: 2, description: "factor, 1 to 8" }),
    upscaling_resize_w: nullable("integer", { default: 512 }),
    upscaling_resize_h: nullable("integer", { default: 512 }),
    upscaling_crop: nullable("boolean", { default: true }),
    upscaler_1: nullable("string", { default: "None", description: "a name from /sdapi/v1/upscalers" }),
    upscaler_2: nullable("string", { default: "None" }),
    extras_upscaler_2_visibility: nullable("number", { default: 0 }),
    upscale_first: nullable("boolean"),
  },
  additionalProperties: true,
} as const;

const extrasBatchBodySchema = {
  ...extrasBodySchema,
  properties: {
    ...extrasBodySchema.properties,
    imageList: nullable("array", {
      items: {
        type: "object",
        properties: { data: { type: "string" }, name: { type: "string" } },
      },
      description: "the images: {data: base64 PNG or JPEG, name}",
    }),
  },
} as const;

const extrasBatchResponseSchema = {
  type: "object",
  properties: { html_info: { type: "string" }, images: { type: "array", items: { type: "string" } } },
} as const;

const extrasResponseSchema = {
  type: "object",
  properties: { html_info: { type: "string" }, image: { type: "string" } },
} as const;

const upscalerSchema = {
  type: "array",
  items: {
    type: "object",
    properties: {
      name: { type: "string" },
      model_name: { type: ["string", "null"] },
      model_path: { type: ["string", "null"] },
      model_url: { type: ["string", "null"] },
      scale: { type: "number" },
    },
  },
} as const;

export function a1111UpscaleRoutes(app: FastifyInstance, ctx: ServerContext, catalog: UpscalerCatalog): void {
  app.get(
    "/sdapi/v1/upscalers",
    {
      schema: {
        tags,
        summary: "Upscalers: None, Lanczos, Nearest and the ESRGAN-family models in --upscalers-dir",
        response: { 200: upscalerSchema },
      },
    },
    async () => catalog.list().map(toA1111Upscaler),
  );

  app.get(
    "/sdapi/v1/latent-upscale-modes",
    {
      schema: {
        tags,
        summary: "The hires fix's Latent upscalers (hr_upscaler names)",
        response: {
          200: { type: "array", items: { type: "object", properties: { name: { type: "string" } } } },
        },
      },
    },
    async () => Object.keys(LATENT_UPSCALE_MODES).map((name) => ({ name })),
  );

  app.post<{ Body: Record<string, unknown> }>(
    "/sdapi/v1/extra-single-image",
    {
      schema: {
        tags,
        summary: "Upscale one image (queued; answers when done)",
        body: extrasBodySchema,
        response: {
          200: extrasResponseSchema,
          422: errorSchema,
          429: errorSchema,
          500: errorSchema,
          503: errorSchema,
        },
      },
    },
    async (request) => {
      const parsed = parseExtrasRequest(request.body, catalog);
      const job = ctx.submitTask(upscaleTask(parsed, ctx.executor));
      let result: UpscaleResult;
      try {
        result = (await job.finished) as UpscaleResult;
      } catch (err) {
        throw toHttpError(err);
      } finally {
        ctx.queue.forget(job.id);
      }
      return { html_info: result.html_info, image: result.image };
    },
  );

  app.post<{ Body: Record<string, unknown> }>(
    "/sdapi/v1/extra-batch-images",
    {
      schema: {
        tags,
        summary: "Upscale several images with the same settings (one queued job; answers when done)",
        body: extrasBatchBodySchema,
        response: {
          200: extrasBatchResponseSchema,
          422: errorSchema,
          429: errorSchema,
          500: errorSchema,
          503: errorSchema,
        },
      },
    },
    async (request) => {
      const parsed = parseExtrasBatchRequest(request.body, catalog);
      const job = ctx.submitTask(batchUpscaleTask(parsed, ctx.executor));
      let result: BatchUpscaleResult;
      try {
        result = (await job.finished) as BatchUpscaleResult;
      } catch (err) {
        throw toHttpError(err);
      } finally {
        ctx.queue.forget(job.id);
      }
      return { html_info: result.html_info, images: [...result.images] };
    },
  );
}
