/**
 * The A1111 discovery and settings endpoints: samplers, schedulers, checkpoints, LoRAs, options
 * (with the queued model switch), png-info, memory, VAEs. Upscalers: a1111-upscale.ts.
 */
import { freemem, totalmem } from "node:os";
import type { FastifyInstance } from "fastify";
import type { ModelDefaults } from "../../pipeline/model-defaults.js";
import { listSamplers } from "../../schedulers/registry.js";
import { SCHEDULES } from "../../schedulers/sigma-schedules.js";
import { base64Bytes } from "../base64-image.js";
import { HttpError } from "../http-error.js";
import { pngInfo } from "../png-info.js";
import { errorSchema, optionsBodySchema, pngInfoBodySchema } from "../schemas.js";
import { type ServerContext, toHttpError } from "../server-context.js";

const tags = ["A1111"];

/** A checkpoint's own settings (pipeline/model-defaults.ts) under A1111's txt2img field names. */
function modelDefaultsFields(d: ModelDefaults) {
  return {
    defaults: { sampler_name: d.sampler, steps: d.steps, cfg_scale: d.cfg, width: d.width, height: d.height },
  };
}

export function a1111DiscoveryRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get("/sdapi/v1/samplers", { schema: { tags, summary: "Samplers and their aliases" } }, async () =>
    listSamplers().map((s) => ({ name: s.name, aliases: s.aliases, options: {} })),
  );

  app.get(
    "/sdapi/v1/schedulers",
    { schema: { tags, summary: 'Schedule types ("scheduler" field)' } },
    async () =>
      SCHEDULES.map((s) => ({
        name: s.name,
        label: s.label,
        aliases: s.aliases.length > 0 ? [...s.aliases] : null,
        default_rho: s.defaultRho,
        need_inner_model: s.needInnerModel,
      })),
  );

  const listModels = () =>
    ctx.models.list().map((e) => ({
      title: ctx.models.title(e),
      model_name: e.modelName,
      hash: ctx.models.shortHash(e) ?? null,
      sha256: ctx.models.sha256(e) ?? null,
      filename: e.path,
      config: null,
      // not in A1111's answer: what sdlite runs the model with where a request leaves a field out
      ...modelDefaultsFields(ctx.models.defaults(e)),
    }));
  app.get(
    "/sdapi/v1/sd-models",
    { schema: { tags, summary: "Checkpoints: -m, the models folder, the Hugging Face cache" } },
    async () => listModels(),
  );
  app.post(
    "/sdapi/v1/refresh-checkpoints",
    { schema: { tags, summary: "Rescan for checkpoints" } },
    async () => {
      ctx.models.refresh();
      return null;
    },
  );

  const listLoras = () =>
    ctx.loras.list().map((l) => ({ name: l.name, alias: l.alias, path: l.path, metadata: l.metadata }));
  app.get("/sdapi/v1/loras", { schema: { tags, summary: "LoRAs in the LoRA folder" } }, async () =>
    listLoras(),
  );
  app.post("/sdapi/v1/refresh-loras", { schema: { tags, summary: "Rescan the LoRA folder" } }, async () => {
    ctx.loras.refresh();
    return null;
  });

  const currentOptions = () => {
    const entry = ctx.selectedModel();
    return ctx.options.snapshot(
      entry ? { title: ctx.models.title(entry), sha256: ctx.models.sha256(entry) } : undefined,
    );
  };
  app.get("/sdapi/v1/options", { schema: { tags, summary: "Settings" } }, async () => currentOptions());
  app.post<{ Body: Record<string, unknown> }>(
    "/sdapi/v1/options",
    {
      schema: {
        tags,
        summary: "Change settings; sd_model_checkpoint switches the model after the jobs queued before",
        body: optionsBodySchema,
        response: { 404: errorSchema, 422: errorSchema },
      },
    },
    async (request) => {
      const body = request.body;
      const wanted = body.sd_model_checkpoint;
      const entry = typeof wanted === "string" && wanted !== "" ? ctx.models.find(wanted) : undefined;
      if (typeof wanted === "string" && wanted !== "" && !entry) {
        throw new HttpError(404, `model ${JSON.stringify(wanted)} not found (see /sdapi/v1/sd-models)`);
      }
      ctx.options.apply(body);
      if (entry) {
        try {
          await ctx.submitModelLoad(entry).finished;
        } catch (err) {
          throw toHttpError(err);
        }
      }
      return null;
    },
  );

  app.post<{ Body: { image: string } }>(
    "/sdapi/v1/png-info",
    { schema: { tags, summary: "Generation parameters stored in a PNG", body: pngInfoBodySchema } },
    async (request) => pngInfo(base64Bytes(request.body.image, "image")),
  );

  app.get("/sdapi/v1/memory", { schema: { tags, summary: "Memory use" } }, async () => {
    const total = totalmem();
    const free = freemem();
    const usage = process.memoryUsage();
    return {
      ram: { free, used: total - free, total },
      process: { rss: usage.rss, heap_used: usage.heapUsed, external: usage.external },
      cuda: { error: "sdlite runs on the CPU (onnxruntime); there is no CUDA memory to report" },
    };
  });

  app.get("/sdapi/v1/sd-vae", { schema: { tags, summary: "Standalone VAEs (none listed)" } }, async () => []);
}
