/**
 * What `sdlite generate` does, in order: check every setting the user gave (before any download),
 * resolve the model (path or hub), open it, generate, and write one PNG per image with its A1111
 * infotext. Progress goes to stderr; stdout gets the files written (or one JSON object).
 */
import { randomInt } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Sha256Cache } from "../cache/sha256-cache.js";
import { readEmbeddingFolder } from "../embeddings/embedding-folder.js";
import type { EngineOptions, SpeedOptions } from "../engine/engine-options.js";
import { openPipeline } from "../engine/open-pipeline.js";
import { oneShotLowMemory, withSpeedPreset } from "../engine/speed-preset.js";
import { sdliteModelsDir } from "../hub/hub-settings.js";
import type { DownloadProgress } from "../hub/index.js";
import { formatInfotext } from "../image/infotext.js";
import { modelShortHash } from "../image/model-hash.js";
import { writeNumberedFile } from "../image/output-path.js";
import { encodePng } from "../image/png.js";
import { rgbPixels } from "../image/types.js";
import { generate, type PipelineModels } from "../pipeline/generate.js";
import { buildGenerationRecord, type RecordContext } from "../pipeline/generation-record.js";
import { type GenerationRequest, InvalidRequestError, validateRequest } from "../pipeline/request.js";
import { onnxruntimeNode } from "../runtime/onnxruntime-node.js";
import { resolveSampler } from "../schedulers/registry.js";
import { resolveSchedule } from "../schedulers/sigma-schedules.js";
import { readOverridesFile } from "../weights/architecture/ldm-yaml-config.js";
import { ModelLoadError } from "../weights/model-load-error.js";
import type { GenerateOptions } from "./commands/generate.js";
import { formatDuration, formatRate } from "./format.js";
import { loadInputImages } from "./input-images.js";
import { parseLoraArg } from "./parse-lora-arg.js";
import { createProgressReporter } from "./progress-reporter.js";
import {
  DEFAULT_MODEL_DEFAULTS,
  GENERIC_DEFAULTS,
  type ModelDefaults,
  parseRepoSpec,
  resolveModel,
} from "./resolve-model.js";
import { DEFAULT_TAESD_REPO, fastPresetTaesd, type ResolvedTaesd, resolveTaesd } from "./resolve-taesd.js";
import { StageTimings } from "./stage-timings.js";

/** A1111 draws random seeds below 2^32 - 1. */
const MAX_RANDOM_SEED = 4294967294;
/** How many unmatched LoRA keys a warning names. */
const UNMATCHED_SHOWN = 3;

function checkProviders(names: string[]): void {
  const available = onnxruntimeNode().availableProviders();
  for (const name of names) {
    if (!available.includes(name)) {
      throw new InvalidRequestError(
        `execution provider "${name}" is not available in this onnxruntime build (available: ${available.join(", ")})`,
      );
    }
  }
}

/** The request from the options, with the model's recommended settings for what was not given. */
function buildRequest(
  prompt: string,
  o: GenerateOptions,
  defaults: ModelDefaults,
  images: ReturnType<typeof loadInputImages>,
  seed: number,
): GenerationRequest {
  return {
    prompt,
    negativePrompt: o.negative,
    sampler: o.sampler ?? defaults.sampler,
    schedule: scheduleOption(o),
    steps: o.steps ?? defaults.steps,
    guidance: o.cfg ?? defaults.cfg,
    seed,
    width: images.width,
    height: images.height,
    batchSize: o.batchSize,
    batchCount: o.batchCount,
    rng: o.rng,
    clipSkip: o.clipSkip,
    padCondUncond: o.padCondUncond,
    initImage: images.initImage,
    mask: images.mask,
    strength: o.strength,
  };
}

/** --scheduler, or its alias --schedule-type; both only when they agree. */
function scheduleOption(o: GenerateOptions): string | undefined {
  if (o.scheduler !== undefined && o.scheduleType !== undefined && o.scheduler !== o.scheduleType) {
    throw new InvalidRequestError(
      `--scheduler ${o.scheduler} and --schedule-type ${o.scheduleType} disagree; give one of them`,
    );
  }
  return o.scheduler ?? o.scheduleType;
}

/** Everything that can be refused without a model, so a bad setting never costs a download. */
function checkOptions(o: GenerateOptions): void {
  const schedule = scheduleOption(o);
  if (schedule !== undefined) resolveSchedule(schedule);
  if (o.sampler !== undefined) resolveSampler(o.sampler, { scheduleType: schedule });
  if (o.strength !== undefined && !o.initImage) {
    throw new InvalidRequestError("--strength needs --init-image (it is the img2img denoising strength)");
  }
  if (o.decoder === "taesd" && !o.taesd && !o.fast) {
    throw new InvalidRequestError(
      `--decoder taesd needs TAESD weights: --taesd PATH or --taesd ${DEFAULT_TAESD_REPO} (a Hugging Face repo id)`,
    );
  }
  if (o.seed !== undefined && o.seed < -1) {
    throw new InvalidRequestError(`seed must be -1 (random) or a non-negative integer, got ${o.seed}`);
  }
  if (o.threads !== undefined && o.threads < 1) {
    throw new InvalidRequestError(`--threads must be at least 1, got ${o.threads}`);
  }
  const files: [string, string | undefined][] = [
    ...o.lora.map((l): [string, string] => ["--lora", parseLoraArg(l).path]),
    ["--vae", o.vae],
    ["--embeddings-dir", o.embeddingsDir],
    // a repo id is looked up on the hub instead
    ["--taesd", o.taesd !== undefined && parseRepoSpec(o.taesd) ? undefined : o.taesd],
  ];
  for (const [option, path] of files) {
    if (path !== undefined && !existsSync(path))
      throw new InvalidRequestError(`${option}: no such file: ${path}`);
  }
}

/** The loader names its load option and the sidecar file; on the command line the option is --config. */
function withConfigHint(err: unknown, o: GenerateOptions): unknown {
  if (
    err instanceof ModelLoadError &&
    err.reason === "unsupported-config" &&
    !o.config &&
    /sdlite\.json/.test(err.message)
  ) {
    return new ModelLoadError(
      err.reason,
      err.path,
      `${err.message.slice(err.path.length + 2)} (here: --config FILE.json)`,
    );
  }
  return err;
}

/** What ran on the speed side: recorded in the infotext (when not the exact default) and the JSON. */
interface SpeedChoice {
  readonly decoder: "vae" | "taesd";
  readonly deepCacheInterval: number;
  readonly unetQuantization: NonNullable<SpeedOptions["unetQuantization"]>;
  /** Set when TAESD weights were given or fetched (they also serve nothing else in `generate`). */
  readonly taesd?: ResolvedTaesd;
}

/**
 * The speed options (explicit ones over the --fast preset) and the TAESD weights, fetched from the
 * hub for a repo id; --fast without --taesd fetches DEFAULT_TAESD_REPO or falls back to the full VAE.
 */
async function chooseSpeed(
  o: GenerateOptions,
  reporter: ReturnType<typeof createProgressReporter>,
  signal: AbortSignal,
): Promise<SpeedChoice> {
  const speed = withSpeedPreset(o.fast ? "fast" : undefined, {
    unetQuantization: o.quantize,
    deepCacheInterval: o.deepCache,
    decoder: o.decoder ?? (o.taesd ? "taesd" : undefined),
  });
  const chosen = {
    decoder: speed.decoder ?? "vae",
    deepCacheInterval: speed.deepCacheInterval ?? 1,
    unetQuantization: speed.unetQuantization ?? "none",
  };
  const fromHub = {
    signal,
    onHubLookup: (repo: string, revision: string | undefined) =>
      reporter.phase(
        `TAESD ${repo}${revision ? `@${revision}` : ""} from the Hugging Face hub (cache first)`,
      ),
    onDownloadProgress: (p: DownloadProgress) => reporter.download(p),
  };
  if (o.taesd !== undefined) return { ...chosen, taesd: await resolveTaesd(o.taesd, fromHub) };
  if (chosen.decoder !== "taesd") return chosen;
  const taesd = await fastPresetTaesd(fromHub, (line) => reporter.note(line));
  return taesd ? { ...chosen, taesd } : { ...chosen, decoder: "vae" };
}

/** Infotext entries for what differs from the exact defaults (A1111's own key for the decoder). */
function speedInfotext(speed: SpeedChoice): Record<string, string | number> {
  return {
    ...(speed.decoder === "taesd" ? { "VAE Decoder": "TAESD" } : {}),
    ...(speed.deepCacheInterval > 1 ? { "DeepCache interval": speed.deepCacheInterval } : {}),
    ...(speed.unetQuantization !== "none" ? { "UNet quantization": speed.unetQuantization } : {}),
  };
}

export async function runGenerate(prompt: string, o: GenerateOptions): Promise<void> {
  const started = performance.now();
  checkOptions(o);
  const providers = o.provider
    ?.split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (providers?.length) checkProviders(providers);
  const loras = o.lora.map(parseLoraArg);
  const overrides = o.config ? readOverridesFile(o.config) : undefined;
  const seed = o.seed === undefined || o.seed === -1 ? randomInt(0, MAX_RANDOM_SEED + 1) : o.seed;
  const fallbackSize = { width: GENERIC_DEFAULTS.width, height: GENERIC_DEFAULTS.height };
  const images = loadInputImages(o, fallbackSize);
  // without -m the default model's LCM sampler is known now: a schedule it cannot take costs no download
  validateRequest(buildRequest(prompt, o, o.model ? GENERIC_DEFAULTS : DEFAULT_MODEL_DEFAULTS, images, seed));

  const timings = new StageTimings();
  const reporter = createProgressReporter(process.stderr, () => timings.stepsPerSecond());
  const abort = new AbortController();
  const onSigint = () => {
    reporter.note("interrupted: stopping after the current step (Ctrl-C again to quit at once)");
    abort.abort();
    process.once("SIGINT", () => process.exit(130));
  };
  process.once("SIGINT", onSigint);
  let opened: Awaited<ReturnType<typeof openPipeline>> | undefined;
  try {
    if (o.seed === undefined || o.seed === -1) reporter.note(`seed ${seed} (random)`);
    // TAESD first: a few MB, and a bad --taesd repo id never costs a model download
    const speed = await chooseSpeed(o, reporter, abort.signal);
    const resolved = await resolveModel(o.model, {
      variant: o.variant,
      overrides,
      signal: abort.signal,
      onHubLookup: (repo, revision) =>
        reporter.phase(
          `model ${repo}${revision ? `@${revision}` : ""} from the Hugging Face hub (cache first)`,
        ),
      onDownloadProgress: (p) => reporter.download(p),
    });
    const resolvedAt = performance.now();
    const request = buildRequest(prompt, o, resolved.defaults, images, seed);
    validateRequest(request);

    reporter.phase(`loading ${resolved.name}`);
    const engine: EngineOptions = {
      loras,
      overrides,
      vae: o.vae,
      taesd: speed.taesd?.path,
      variant: resolved.variant,
      runtime: { threads: o.threads, executionProviders: providers?.length ? providers : undefined },
      memory: {
        lowMemory: oneShotLowMemory(o.fast ? "fast" : undefined, o.lowMemory),
        weightStorage: o.weightStorage,
      },
      speed: {
        decoder: speed.decoder,
        deepCacheInterval: speed.deepCacheInterval,
        unetQuantization: speed.unetQuantization,
      },
    };
    opened = await openPipeline(resolved.path, engine).catch((err: unknown) => {
      throw withConfigHint(err, o);
    });
    const loadedAt = performance.now();
    if (opened.model.inpainting && !request.mask) {
      throw new InvalidRequestError(
        `${resolved.name} is an inpainting model (9-channel UNet): give --init-image and --mask`,
      );
    }
    warnUnmatched(opened.unmatchedLoraKeys, reporter.note.bind(reporter));
    const modelHash =
      opened.model.format === "single-file"
        ? new Sha256Cache() // hashed while generating, once per file version (hashes.json in the cache)
            .sha256(opened.model.path)
            .then(modelShortHash, () => undefined)
        : Promise.resolve(undefined);

    const embeddingsDir = o.embeddingsDir ?? join(sdliteModelsDir(), "embeddings");
    const folder = readEmbeddingFolder(embeddingsDir);
    for (const f of folder.failures) reporter.note(`embedding ${f.path} not loaded: ${f.error}`);

    const networks = opened.models;
    const models: PipelineModels = {
      ...networks,
      stageDone: async (stage) => {
        timings.stageDone(stage);
        await networks.stageDone?.(stage);
      },
    };
    const results = await generate(models, request, {
      signal: abort.signal,
      embeddings: folder.embeddings,
      onProgress: (p) => {
        timings.record(p);
        reporter.generation(p);
      },
    });
    const generatedAt = performance.now();
    reporter.finish();

    const context: RecordContext = {
      modelName: resolved.name,
      modelHash: await modelHash,
      vae: o.vae,
      loras: opened.loras.map((l) => ({
        path: l.file.path,
        weight: l.weight,
        addnetHash: l.file.addnetHash,
      })),
    };
    const written: { file: string; seed: number; infotext: string }[] = [];
    const speedExtra = speedInfotext(speed);
    for (const { image, seed: imageSeed, conditioning } of results) {
      const record = buildGenerationRecord(request, imageSeed, { ...context, conditioning });
      const infotext = formatInfotext(
        Object.keys(speedExtra).length > 0
          ? { ...record, extra: { ...record.extra, ...speedExtra } }
          : record,
      );
      const png = encodePng(rgbPixels(image), { parameters: infotext });
      const file = await writeNumberedFile(o.output, String(imageSeed), png);
      written.push({ file, seed: imageSeed, infotext });
      if (!o.json) process.stdout.write(`saved ${file} (seed ${imageSeed})\n`);
    }
    const summary = timings.summary();
    const ms = (t: number) => Math.round(t * 10) / 10;
    if (o.json) {
      const doc = {
        files: written.map((w) => w.file),
        seeds: written.map((w) => w.seed),
        infotexts: written.map((w) => w.infotext),
        model: {
          name: resolved.name,
          path: resolved.path,
          ...(resolved.repo ? { repo: resolved.repo } : {}),
        },
        engine: {
          ...(o.fast ? { preset: "fast" } : {}),
          decoder: speed.decoder,
          ...(speed.taesd
            ? { taesd: { path: speed.taesd.path, ...(speed.taesd.repo ? { repo: speed.taesd.repo } : {}) } }
            : {}),
          deepCacheInterval: speed.deepCacheInterval,
          unetQuantization: speed.unetQuantization,
        },
        timings: {
          resolveModelMs: ms(resolvedAt - started),
          loadMs: ms(loadedAt - resolvedAt),
          generateMs: ms(generatedAt - loadedAt),
          totalMs: ms(performance.now() - started),
          stagesMs: Object.fromEntries(Object.entries(summary.stages).map(([k, v]) => [k, ms(v)])),
          denoiseSteps: summary.denoiseSteps,
          stepsPerSecond: Math.round(summary.stepsPerSecond * 1000) / 1000,
        },
      };
      process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    } else {
      reporter.note(
        `${written.length} image(s) in ${formatDuration(generatedAt - loadedAt)} (${formatRate(summary.stepsPerSecond)}; model loaded in ${formatDuration(loadedAt - resolvedAt)})`,
      );
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
    // Ctrl-C: whatever was cut short (a download resumes next time) ends here, as shells expect
    reporter.finish();
    process.stderr.write("sdlite: interrupted\n");
    process.exitCode = 130;
  } finally {
    reporter.finish();
    process.removeListener("SIGINT", onSigint);
    await opened?.close();
  }
}

function warnUnmatched(
  keys: readonly { file: string; key: string; reason: string }[],
  note: (line: string) => void,
): void {
  const byFile = new Map<string, string[]>();
  for (const k of keys) byFile.set(k.file, [...(byFile.get(k.file) ?? []), k.key]);
  for (const [file, names] of byFile) {
    const shown = names.slice(0, UNMATCHED_SHOWN).join(", ");
    const more = names.length > UNMATCHED_SHOWN ? `, … (${names.length - UNMATCHED_SHOWN} more)` : "";
    note(
      `warning: ${names.length} key(s) of LoRA ${file} match nothing in this model and were ignored: ${shown}${more}`,
    );
  }
}
