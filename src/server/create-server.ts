/**
 * `createServer(options)`: the whole HTTP server as a fastify instance, not yet listening, so tests
 * call `app.inject()` and the CLI calls `app.listen()`. Composes the job queue, the model and
 * LoRA catalogs, the job executor and the routes; `app.sdlite.shutdown()` stops it gracefully.
 */
import { join } from "node:path";
import fastifyCors from "@fastify/cors";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyError, type FastifyInstance } from "fastify";
import { describeRepair } from "../cache/cache-entries.js";
import { GraphCache } from "../cache/graph-cache.js";
import { EmbeddingFolder } from "../embeddings/embedding-folder.js";
import { ChildProcessExecutor } from "../executor/child-process-executor.js";
import { InProcessExecutor } from "../executor/in-process-executor.js";
import type { JobExecutor } from "../executor/job-executor.js";
import { resolveHubSettings, sdliteModelsDir } from "../hub/hub-settings.js";
import { LoraCatalog } from "../lora/lora-catalog.js";
import type { JobEngine } from "../pipeline/job-engine.js";
import { UpscalerCatalog } from "../upscale/upscaler-catalog.js";
import { PACKAGE_VERSION } from "../version.js";
import { createAuthenticator } from "./auth.js";
import { createBrowserGuard } from "./browser-guard.js";
import { callerKey } from "./caller-key.js";
import { DEFAULT_LIMITS, type GenerationLimits } from "./generation-plan.js";
import { a1111ErrorBody, HttpError } from "./http-error.js";
import { type Job, JobQueue } from "./job-queue.js";
import { registerJsonBodyParser } from "./json-body.js";
import { DEFAULT_PREVIEW_EVERY, type PreviewMode } from "./live-preview.js";
import { ModelCatalog } from "./model-catalog.js";
import { MemoryRateLimiter, type RateLimiter } from "./rate-limit.js";
import { a1111DiscoveryRoutes } from "./routes/a1111-discovery.js";
import { a1111EmbeddingRoutes } from "./routes/a1111-embeddings.js";
import { a1111ExtraRoutes } from "./routes/a1111-extras.js";
import { a1111GenerationRoutes } from "./routes/a1111-generation.js";
import { a1111UpscaleRoutes } from "./routes/a1111-upscale.js";
import { sdliteJobRoutes } from "./routes/sdlite-jobs.js";
import { sdliteProfileRoutes } from "./routes/sdlite-profile.js";
import { defaultWebDir, webUiRoutes } from "./routes/web-ui.js";
import { ServerContext, type ServerJobResult, type ServerLog, toHttpError } from "./server-context.js";
import { ServerOptions } from "./server-options.js";
import type { ServerQueue } from "./server-queue.js";

export interface CreateServerOptions {
  /** `-m`: the model loaded first (a path, or a name the catalog knows). */
  model?: string;
  /** Checkpoints folder; default $SDLITE_MODELS / ~/.local/share/sdlite/models. */
  modelsDir?: string;
  /** Hugging Face hub cache to list models from; default from the environment; false: none. */
  hubCacheDir?: string | false;
  /** LoRA folder; default `<modelsDir>/Lora`. */
  loraDir?: string;
  /** Textual-inversion embeddings folder; default `<modelsDir>/embeddings`. */
  embeddingsDir?: string;
  /** ESRGAN-family upscaler models (.pth, .safetensors); default `<modelsDir>/ESRGAN`. */
  upscalersDir?: string;
  apiKey?: string;
  /** "user:pass[,user2:pass2]": HTTP basic authentication. */
  apiAuth?: string;
  /** Origins allowed by CORS; none: no CORS headers at all. Other origins' POSTs are refused. */
  corsOrigins?: readonly string[];
  /**
   * Host names requests may carry besides IP literals, localhost and this machine's name (a guard
   * against DNS rebinding; see browser-guard.ts): a leading dot allows subdomains, "*" any name.
   */
  allowedHosts?: readonly string[];
  /** The name or address the server listens on (`--host`): a name is allowed as Host too. */
  listenHost?: string;
  /** Most jobs waiting behind the running one (default 16). */
  queueSize?: number;
  /** The engine settings of every job (runtime.threads, memory.lowMemory, taesd, speed.decoder, runtime.cache, …). */
  engine?: JobEngine;
  /** Opened pipelines kept (default 2, 1 with engine.memory.lowMemory). */
  maxPipelines?: number;
  /**
   * Where generations run: "in-process" (the default: on this thread, which then answers no
   * request while a network runs) or "child-process" (`sdlite serve`: a forked process, so the
   * server stays responsive; see src/executor/README.md).
   */
  executor?: "in-process" | "child-process";
  limits?: Partial<GenerationLimits>;
  /** Largest request body in bytes (default 50 MB). */
  bodyLimit?: number;
  /**
   * Live previews: "taesd" (full size, needs engine.taesd; the default with it), "approx" (the
   * cheap latent approximation; the default without) or "none".
   */
  preview?: PreviewMode;
  /** A preview every this many steps (default 5 with TAESD, 3 with approx; see live-preview.ts). */
  previewEvery?: number;
  /** The built web UI; default dist/web of this package; false: placeholder only. */
  webDir?: string | false;
  clipSkip?: number;
  randnSource?: "CPU" | "GPU" | "NV";
  /** Notable events (jobs, errors), one line each; the server itself never prints. */
  log?: ServerLog;
  /** Where `sdlite profile` keeps the last profile; default `$SDLITE_CACHE/profile`. */
  profileDir?: string;
  /**
   * Where jobs wait and who runs them: default this process (JobQueue); `sdlite serve --queue
   * redis://…` passes a queue on Redis whose workers are other processes (src/queue/).
   */
  queue?: (capacity: number) => ServerQueue<ServerJobResult>;
  /** New jobs per minute per caller (API key, user or address); a number: counted in this process. */
  rateLimit?: number | RateLimiter;
  /** A generation running longer than this is stopped and fails (504). */
  jobTimeoutSeconds?: number;
}

export interface SdliteServer {
  readonly context: ServerContext;
  /** Queues loading of the selected model, so the first request does not wait for it. */
  preload(): Job<ServerJobResult> | undefined;
  /**
   * Stop accepting jobs, cancel the waiting ones, give the running one `graceMs` to finish (then
   * cancel it), close the server and the pipelines.
   */
  shutdown(graceMs?: number): Promise<void>;
}

declare module "fastify" {
  interface FastifyInstance {
    sdlite: SdliteServer;
  }
}

export const DEFAULT_QUEUE_SIZE = 16;
export const DEFAULT_BODY_LIMIT = 50 * 1024 * 1024;
/**
 * On shutdown, how long a job cancelled after the grace period may take to end its running step
 * before its executor process is killed (an in-process job cannot be killed: it is waited for).
 */
export const STOP_STEP_MS = 5000;

export async function createServer(options: CreateServerOptions = {}): Promise<FastifyInstance> {
  const log = options.log ?? (() => {});
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = Fastify({ bodyLimit, logger: false });
  registerJsonBodyParser(app);

  const modelsDir = options.modelsDir ?? sdliteModelsDir();
  const hubCacheDir =
    options.hubCacheDir === false ? undefined : (options.hubCacheDir ?? resolveHubSettings().cacheDir);
  const models = new ModelCatalog({ defaultModel: options.model, modelsDir, hubCacheDir });
  const loras = new LoraCatalog(options.loraDir ?? join(modelsDir, "Lora"));
  const engine = options.engine ?? {};
  // one graph cache for every pipeline and upscaler: a damaged entry is rebuilt with a log line
  const graphCache = new GraphCache(undefined, { onRepair: (r) => log(describeRepair(r)) });
  const maxPipelines = options.maxPipelines ?? (engine.memory?.lowMemory ? 1 : 2);
  const upscaleThreads = engine.runtime?.threads;
  const upscaleCache = engine.runtime?.cache !== false;
  const executor: JobExecutor =
    options.executor === "child-process"
      ? new ChildProcessExecutor({ maxPipelines, log, upscaleThreads, upscaleCache })
      : new InProcessExecutor({
          maxPipelines,
          local: { graphCache },
          upscalers: { threads: upscaleThreads, cache: upscaleCache ? graphCache : false },
        });
  const previewMode = options.preview ?? (engine.taesd ? "taesd" : "approx");
  const previewEvery = options.previewEvery ?? DEFAULT_PREVIEW_EVERY[previewMode];
  const capacity = options.queueSize ?? DEFAULT_QUEUE_SIZE;
  const queue = options.queue?.(capacity) ?? new JobQueue<ServerJobResult>({ capacity });
  const context = new ServerContext(
    queue,
    models,
    loras,
    new EmbeddingFolder(options.embeddingsDir ?? join(modelsDir, "embeddings")),
    executor,
    new ServerOptions({
      clipSkip: options.clipSkip,
      randnSource: options.randnSource,
      previewEvery,
      previewMode,
      taesdAvailable: engine.taesd !== undefined,
    }),
    { ...DEFAULT_LIMITS, ...options.limits },
    log,
    engine,
  );
  if (options.jobTimeoutSeconds !== undefined) context.jobTimeoutMs = options.jobTimeoutSeconds * 1000;

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    let http: HttpError;
    if (error.validation) http = new HttpError(422, error.message, "RequestValidationError");
    else if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      http = new HttpError(413, `the request body is larger than ${bodyLimit} bytes`, "PayloadTooLarge");
    } else if (!(error instanceof HttpError) && error.statusCode && error.statusCode < 500) {
      http = new HttpError(error.statusCode, error.message, error.code ?? error.name);
    } else http = toHttpError(error);
    if (http.statusCode >= 500) log(`error ${http.statusCode}: ${error.stack ?? error.message}`);
    return reply.code(http.statusCode).headers(http.headers).send(a1111ErrorBody(http.kind, http.message));
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(a1111ErrorBody("HTTPException", `Not Found: ${request.method} ${request.url.split("?")[0]}`)),
  );

  if (options.corsOrigins && options.corsOrigins.length > 0) {
    await app.register(fastifyCors, {
      origin: [...options.corsOrigins],
      methods: ["GET", "POST", "DELETE", "OPTIONS"],
      allowedHeaders: ["Content-Type", "Authorization", "X-API-Key"],
      exposedHeaders: ["Retry-After"],
      credentials: true,
    });
  }

  const guard = createBrowserGuard(
    { allowedHosts: options.allowedHosts ?? [], corsOrigins: options.corsOrigins ?? [] },
    options.listenHost,
  );
  app.addHook("onRequest", async (request, reply) => {
    const refusal = guard.refusal(request.method, request.headers);
    if (refusal !== undefined) return reply.code(403).send(a1111ErrorBody("HTTPException", refusal));
  });

  const auth = createAuthenticator({ apiKey: options.apiKey, basic: options.apiAuth });
  if (auth.required) {
    app.addHook("onRequest", async (request, reply) => {
      if (auth.exempt(request.method, request.url) || auth.check(request.headers)) return;
      return reply
        .code(401)
        .header("www-authenticate", auth.challenge)
        .send(
          a1111ErrorBody(
            "HTTPException",
            "authentication required: send the API key or the --api-auth credentials",
          ),
        );
    });
  }

  const limiter =
    typeof options.rateLimit === "number" ? new MemoryRateLimiter(options.rateLimit) : options.rateLimit;
  if (limiter) {
    const limited = new Set(["/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/sdlite/v1/jobs"]);
    app.addHook("preHandler", async (request, reply) => {
      if (request.method !== "POST" || !limited.has(request.url.split("?")[0])) return;
      const decision = await limiter.take(callerKey(request));
      if (decision.allowed) return;
      return reply
        .code(429)
        .header("retry-after", String(decision.retryAfterSeconds))
        .send(
          a1111ErrorBody(
            "RateLimited",
            `rate limit: at most ${limiter.perMinute} jobs a minute; retry in ${decision.retryAfterSeconds} s`,
          ),
        );
    });
  }

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: "sdlite",
        description:
          "AUTOMATIC1111-compatible Stable Diffusion 1.x API (/sdapi/v1) and sdlite's job API (/sdlite/v1)",
        version: PACKAGE_VERSION,
      },
      tags: [
        { name: "A1111", description: "AUTOMATIC1111 web UI API, same fields and shapes" },
        { name: "sdlite jobs", description: "Queue without waiting; poll or stream progress" },
        { name: "sdlite profile", description: "The last `sdlite profile` report and its charts" },
      ],
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: "/docs" });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  a1111GenerationRoutes(app, context);
  a1111DiscoveryRoutes(app, context);
  a1111ExtraRoutes(app, context);
  a1111EmbeddingRoutes(app, context);
  context.upscalers = new UpscalerCatalog(options.upscalersDir ?? join(modelsDir, "ESRGAN"));
  a1111UpscaleRoutes(app, context, context.upscalers);
  sdliteJobRoutes(app, context);
  sdliteProfileRoutes(app, options.profileDir);
  await webUiRoutes(app, options.webDir === false ? undefined : (options.webDir ?? defaultWebDir()), () =>
    queue.health(),
  );

  // before in-flight requests are awaited: their jobs must end first
  app.addHook("preClose", async () => {
    await queue.shutdown(0);
  });
  app.addHook("onClose", async () => {
    await executor.close();
  });

  app.decorate("sdlite", {
    context,
    preload() {
      const entry = context.selectedModel();
      return entry ? context.submitModelLoad(entry) : undefined;
    },
    async shutdown(graceMs = 30_000) {
      const stopped = queue.shutdown(graceMs);
      // a cancelled job stops at the end of its running step; one longer than that is killed
      const bound = new Promise<"late">((resolve) => {
        const timer = setTimeout(() => resolve("late"), graceMs + STOP_STEP_MS);
        void stopped.finally(() => clearTimeout(timer));
      });
      if ((await Promise.race([stopped, bound])) === "late") await executor.close(0);
      await stopped;
      await app.close();
    },
  } satisfies SdliteServer);
  return app;
}
