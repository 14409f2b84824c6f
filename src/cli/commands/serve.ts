/**
 * `sdlite serve`: the AUTOMATIC1111-compatible HTTP API (/sdapi/v1), sdlite's job API
 * (/sdlite/v1/jobs), the web UI at / and API docs at /docs. Loopback only unless told otherwise;
 * SIGTERM/SIGINT stop it gracefully (queued jobs cancelled, the running one given a grace period).
 * Jobs run in a child process (src/executor/), so the server answers while one computes.
 */
import { isIP } from "node:net";
import { type Command, Option } from "commander";
import { type JobEngine, speedSettings } from "../../pipeline/job-engine.js";
import type { DeviceChoice } from "../device-choice.js";
import { DEVICE_NAMES, type DeviceName } from "../device-names.js";
import { collect, parseInteger } from "../option-parsers.js";

export interface ServeOptions {
  model?: string;
  modelsDir?: string;
  loraDir?: string;
  embeddingsDir?: string;
  upscalersDir?: string;
  host: string;
  listen?: boolean;
  allowedHost: string[];
  port: number;
  apiKey?: string;
  apiAuth?: string;
  corsOrigin: string[];
  queueSize: number;
  threads?: number;
  device?: DeviceName;
  lowMemory?: boolean;
  fast?: boolean;
  taesd?: string;
  decoder?: "vae" | "taesd";
  preview?: "taesd" | "approx" | "none";
  previewEvery?: number;
  shutdownGrace: number;
  queue?: string;
  rateLimit?: number;
  jobTimeout?: number;
}

const HELP = `
Endpoints:
  /sdapi/v1/txt2img, /img2img, /progress, /interrupt, /skip, /samplers, /schedulers, /sd-models,
  /options, /loras, /png-info, /memory, /upscalers, /extra-single-image, …
                                             AUTOMATIC1111's API (same fields and shapes)
  /sdlite/v1/jobs                            queue without waiting; /jobs/:id/events streams progress
  /docs                                      API documentation (OpenAPI at /openapi.json)
  /sdlite/v1/health                          liveness check, never needs credentials

Models: -m (a file, folder or Hugging Face repo id), the models folder ($SDLITE_MODELS) and the
Hugging Face cache; switch with POST /sdapi/v1/options {"sd_model_checkpoint": "<title>"}.
LoRAs: <lora:name:weight> in the prompt, looked up in --lora-dir (default <models-dir>/Lora).
Embeddings: a textual-inversion file's name in a prompt, from --embeddings-dir (default
<models-dir>/embeddings; re-read when it changes; listed by /sdapi/v1/embeddings).
Credentials: browsers (the web UI, /docs) can answer --api-auth's password prompt; --api-key
suits programs, which send it as "Authorization: Bearer KEY" or "X-API-Key: KEY".
Browsers: requests whose Host is not an IP address, localhost, this machine's name or an
--allowed-host are refused (DNS rebinding), and so are POSTs from other sites' pages unless their
origin is given with --cors-origin. On a LAN: --listen --api-key KEY (and --allowed-host NAME for
each name other machines use for this one).

Examples:
  sdlite serve -m ./v1-5-pruned-emaonly.safetensors
  sdlite serve --listen --api-key "$(openssl rand -hex 16)" --allowed-host studio.lan
  sdlite serve --host 0.0.0.0 --api-auth alice:secret --cors-origin https://app.example`;

/** 127.0.0.0/8, ::1 and "localhost": reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  if (h === "localhost") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  return h === "::1";
}

function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/**
 * The engine settings of every job the server runs (`taesd`: a path, hub ids resolved). --taesd
 * alone decodes with TAESD (as in `generate`); --decoder vae keeps the full VAE for the final images
 * while TAESD still serves the live previews; without TAESD weights (--fast fell back) the full VAE
 * decodes.
 */
export function serveEngineOptions(
  options: Pick<ServeOptions, "threads" | "lowMemory" | "taesd" | "decoder" | "fast">,
  executionProviders?: string[],
): JobEngine {
  return {
    runtime: { threads: options.threads, ...(executionProviders ? { executionProviders } : {}) },
    memory: { lowMemory: options.lowMemory },
    ...speedSettings(options.fast ? "fast" : undefined, { decoder: options.decoder }, options.taesd),
  };
}

export async function runServe(options: ServeOptions): Promise<void> {
  const { createServer } = await import("../../server/create-server.js"); // loads onnxruntime only here
  const say = (line: string) => process.stderr.write(`${line}\n`);
  let taesd: string | undefined;
  if (options.taesd !== undefined || (options.fast && options.decoder !== "vae")) {
    // TAESD first: a few MB, and a bad --taesd repo id never costs a model download
    const { fastPresetTaesd, resolveTaesd } = await import("../resolve-taesd.js");
    const lookup = {
      onHubLookup: (repo: string) =>
        say(`looking up TAESD ${repo} on the Hugging Face hub (cached files are used first)`),
    };
    taesd =
      options.taesd !== undefined
        ? (await resolveTaesd(options.taesd, lookup)).path
        : (await fastPresetTaesd(lookup, say))?.path;
  }
  let device: DeviceChoice | undefined;
  if (options.device !== undefined) {
    const { chooseDevice, describeDevice } = await import("../device-choice.js");
    device = await chooseDevice(options.device);
    say(describeDevice(device));
  }
  let model: string | undefined;
  if (options.model !== undefined) {
    const { resolveModel } = await import("../resolve-model.js");
    const resolved = await resolveModel(options.model, {
      onHubLookup: (repo) => say(`looking up ${repo} on the Hugging Face hub (cached files are used first)`),
    });
    model = resolved.path;
  }
  const credentials = options.apiKey !== undefined || options.apiAuth !== undefined;
  if (!isLoopbackHost(options.host) && !credentials) {
    say(
      `warning: listening on ${options.host} without --api-key or --api-auth: anyone who can reach this port can use it`,
    );
  }
  let queue: import("../../queue/redis-job-queue.js").RedisJobQueue | undefined;
  let rateLimit: number | import("../../server/rate-limit.js").RateLimiter | undefined = options.rateLimit;
  if (options.queue !== undefined) {
    // jobs wait on Redis and `sdlite worker` processes run them
    const { checkedRedisUrl, safeUrl } = await import("../../queue/redis-url.js");
    const { RedisJobQueue } = await import("../../queue/redis-job-queue.js");
    const url = checkedRedisUrl(options.queue);
    queue = await RedisJobQueue.connect({
      url,
      capacity: options.queueSize,
      log: (line) => say(`${new Date().toISOString()} ${line}`),
    });
    say(
      `jobs queue on Redis at ${safeUrl(url)}; run them with: sdlite worker --queue ${safeUrl(url)} -m MODEL`,
    );
    if (options.rateLimit !== undefined) {
      const { Redis } = await import("ioredis");
      const { RedisRateLimiter } = await import("../../queue/redis-rate-limiter.js");
      const client = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
      client.on("error", () => {});
      rateLimit = new RedisRateLimiter(client, options.rateLimit);
    }
  }
  const redisQueue = queue;
  const app = await createServer({
    model,
    ...(redisQueue ? { queue: () => redisQueue } : {}),
    rateLimit,
    jobTimeoutSeconds: options.jobTimeout,
    modelsDir: options.modelsDir,
    loraDir: options.loraDir,
    embeddingsDir: options.embeddingsDir,
    upscalersDir: options.upscalersDir,
    apiKey: options.apiKey,
    apiAuth: options.apiAuth,
    corsOrigins: options.corsOrigin,
    allowedHosts: options.allowedHost,
    listenHost: options.host,
    queueSize: options.queueSize,
    // onnxruntime computes in a child process: this one keeps answering while a job runs
    executor: "child-process",
    engine: serveEngineOptions({ ...options, taesd }, device?.executionProviders),
    // --fast --preview taesd without TAESD (it fell back): the default previews
    preview: options.preview === "taesd" && taesd === undefined ? undefined : options.preview,
    previewEvery: options.previewEvery,
    log: (line) => say(`${new Date().toISOString()} ${line}`),
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      say(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    say(`${signal}: finishing the running job (up to ${options.shutdownGrace} s), then exiting`);
    app.sdlite
      .shutdown(options.shutdownGrace * 1000)
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        say(`sdlite: shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));

  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  say(`sdlite serving on http://${urlHost(options.host)}:${port} (API docs at /docs)`);

  const entry = app.sdlite.context.selectedModel();
  if (!entry) {
    say(
      "no model found: pass -m MODEL or put a checkpoint in the models folder; requests will fail until then",
    );
    return;
  }
  const started = Date.now();
  app.sdlite.preload()?.finished.then(
    () => say(`model ready: ${entry.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`),
    (err: unknown) =>
      say(`model ${entry.name} failed to load: ${err instanceof Error ? err.message : String(err)}`),
  );
}

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve the AUTOMATIC1111-compatible HTTP API, a job API with live progress, and the web UI")
    .option(
      "-m, --model <model>",
      "model loaded first: checkpoint file, model folder or Hugging Face repo id",
    )
    .option("--models-dir <dir>", "checkpoints to list and switch between (default: $SDLITE_MODELS)")
    .option("--lora-dir <dir>", "LoRA folder for <lora:name:weight> (default: <models-dir>/Lora)")
    .option(
      "--embeddings-dir <dir>",
      "textual-inversion embeddings, .pt/.bin/.safetensors (default: <models-dir>/embeddings)",
    )
    .option(
      "--upscalers-dir <dir>",
      "ESRGAN-family upscaler models, .pth/.safetensors (default: <models-dir>/ESRGAN)",
    )
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--listen", "listen on every interface, for other machines (as --host 0.0.0.0; A1111's flag)")
    .option(
      "--allowed-host <name>",
      "a host name browsers and clients may use for this server (DNS-rebinding guard; .example.com: subdomains too; *: any); repeatable",
      collect,
      [],
    )
    .option("--port <n>", "port (0: any free port)", parseInteger, 7860)
    .option(
      "--api-key <key>",
      "require this key (Authorization: Bearer KEY or X-API-Key); env SDLITE_API_KEY",
    )
    .option("--api-auth <user:pass>", "require HTTP basic credentials (several: u1:p1,u2:p2)")
    .option("--cors-origin <origin>", "allow browser requests from this origin; repeatable", collect, [])
    .option("--queue-size <n>", "most jobs waiting behind the running one", parseInteger, 16)
    .option("--threads <n>", "threads per operator (default: physical cores)", parseInteger)
    .addOption(
      new Option(
        "--device <name>",
        "where every job's networks run: cpu (default), webgpu (exit 1 if no adapter works), auto (WebGPU on a GPU if a probe runs right on it at start-up, else the CPU); dml/coreml where bundled",
      ).choices([...DEVICE_NAMES]),
    )
    .option("--low-memory", "load each network only while it runs; keep one model open")
    .option(
      "--fast",
      "speed preset: int8 UNet and text encoder, DeepCache every 3rd step, ToDo token downsampling 2, TAESD decoder (madebyollin/taesd unless --taesd; the full VAE if it cannot be had)",
    )
    .option(
      "--taesd <path|repo>",
      "decode with TAESD (folder, file or Hugging Face repo id): much faster, slightly softer images",
    )
    .addOption(
      new Option(
        "--decoder <kind>",
        "final images: vae (quality) or taesd (fast; default when --taesd is given)",
      ).choices(["vae", "taesd"]),
    )
    .addOption(
      new Option(
        "--preview <mode>",
        "live previews: taesd (full size; default with --taesd), approx (cheap, 1/8 size; default without) or none",
      ).choices(["taesd", "approx", "none"]),
    )
    .option(
      "--preview-every <n>",
      "a live preview every n steps (default 5 with taesd, 3 with approx; -1: none)",
      parseInteger,
    )
    .option(
      "--shutdown-grace <seconds>",
      "on SIGTERM, how long the running job may finish; then it is cancelled (its step ends, or its process is killed 5 s later)",
      parseInteger,
      30,
    )
    .option(
      "--queue <url>",
      "queue jobs on Redis (redis://host:port) for `sdlite worker` processes instead of running them here",
    )
    .option("--rate-limit <n>", "at most n new jobs a minute per API key (or user, or address)", parseInteger)
    .option("--job-timeout <seconds>", "stop and fail a generation running longer than this", parseInteger)
    .addHelpText("after", HELP)
    .action(async (options: ServeOptions, command: Command) => {
      options.apiKey ??= process.env.SDLITE_API_KEY || undefined;
      if (options.listen) {
        if (command.getOptionValueSource("host") === "cli")
          throw new Error("choose one of --listen and --host");
        options.host = "0.0.0.0";
      }
      if (options.apiKey !== undefined && options.apiAuth !== undefined) {
        throw new Error("choose one of --api-key and --api-auth");
      }
      if (options.decoder === "taesd" && options.taesd === undefined && !options.fast) {
        throw new Error("--decoder taesd needs TAESD weights: --taesd PATH or --taesd madebyollin/taesd");
      }
      if (options.preview === "taesd" && options.taesd === undefined && !options.fast) {
        throw new Error("--preview taesd needs TAESD weights: --taesd PATH or --taesd madebyollin/taesd");
      }
      if (options.rateLimit !== undefined && options.rateLimit < 1) {
        throw new Error(`--rate-limit must be at least 1 job a minute, got ${options.rateLimit}`);
      }
      if (options.jobTimeout !== undefined && options.jobTimeout < 1) {
        throw new Error(`--job-timeout must be at least 1 second, got ${options.jobTimeout}`);
      }
      if (options.previewEvery !== undefined && options.previewEvery < -1) {
        throw new Error(`--preview-every must be -1 (no previews) or more, got ${options.previewEvery}`);
      }
      await runServe(options);
    });
}
