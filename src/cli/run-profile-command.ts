/**
 * What `sdlite profile` does: check the options, resolve the model and the hardware files, count
 * and time the networks (progress on stderr), print the tables on stdout, and write the JSON and
 * SVG charts (--json, and always the last profile for the web UI).
 */
import { totalmem } from "node:os";
import { resolve } from "node:path";
import { chooseConvAlgorithms } from "../engine/conv-algorithm-choice.js";
import { graphVariantFor } from "../engine/graph-variant.js";
import { int8WeightBitsForThisCpu } from "../engine/int8-weight-bits.js";
import { DEFAULT_TILE_LATENT_SIZE } from "../engine/open-pipeline.js";
import { withSpeedPreset } from "../engine/speed-preset.js";
import { validateDeepCacheInterval } from "../pipeline/deep-cache.js";
import { runProfile } from "../profile/measure/run-profile.js";
import { lastProfilePaths, profilePaths, writeProfileFiles } from "../profile/profile-files.js";
import type { ProfileSettings } from "../profile/profile-plan.js";
import { onnxruntimeNode } from "../runtime/onnxruntime-node.js";
import type { ProfileOptions } from "./commands/profile.js";
import { loadHardware } from "./hardware-files.js";
import { profileText } from "./profile-tables.js";
import { GENERIC_DEFAULTS, resolveModel } from "./resolve-model.js";

function fail(message: string): never {
  throw new Error(message);
}

function checkOptions(o: ProfileOptions): void {
  const width = o.width ?? o.size;
  const height = o.height ?? o.size;
  for (const [name, v] of [
    ["width", width],
    ["height", height],
  ] as const) {
    if (v < 64 || v % 8 !== 0) fail(`image ${name} must be a multiple of 8 of at least 64, got ${v}`);
  }
  if (o.steps !== undefined && o.steps < 1) fail(`--steps must be at least 1, got ${o.steps}`);
  if (o.runs < 1) fail(`--runs must be at least 1, got ${o.runs} (--count-only skips timing)`);
  if (o.threads !== undefined && o.threads < 1) fail(`--threads must be at least 1, got ${o.threads}`);
  if (o.tile !== undefined && o.tile < 0)
    fail(`--tile must be 0 (never) or a number of latents, got ${o.tile}`);
  if (o.deepCache !== undefined) validateDeepCacheInterval(o.deepCache);
}

/** How the options read on the command line, for titles ("--fast --steps 4"). */
function optionsLabel(o: ProfileOptions): string {
  const parts: string[] = [];
  if (o.fast) parts.push("--fast");
  if (o.quantize) parts.push(`--quantize ${o.quantize}`);
  if (o.quantizeTextEncoder) parts.push(`--quantize-text-encoder ${o.quantizeTextEncoder}`);
  if (o.deepCache !== undefined) parts.push(`--deep-cache ${o.deepCache}`);
  if (o.decoder) parts.push(`--decoder ${o.decoder}`);
  if (o.attention) parts.push(`--attention ${o.attention}`);
  if (o.tile !== undefined) parts.push(`--tile ${o.tile}`);
  if (o.weightStorage) parts.push(`--weight-storage ${o.weightStorage}`);
  return parts.join(" ");
}

export async function runProfileCommand(o: ProfileOptions): Promise<void> {
  checkOptions(o);
  const hardware = o.hardware.map(loadHardware);
  const providers = o.device
    ?.split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  if (providers?.length) {
    const available = onnxruntimeNode().availableProviders();
    for (const p of providers) {
      if (!available.includes(p))
        fail(`--device ${p}: not in this onnxruntime build (available: ${available.join(", ")})`);
    }
  }
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const model =
    o.model === undefined
      ? undefined
      : await resolveModel(o.model, {
          onHubLookup: (repo) => progress(`looking up ${repo} on the Hugging Face hub`),
        });
  const defaults = model?.defaults ?? GENERIC_DEFAULTS;
  const speed = withSpeedPreset(o.fast ? "fast" : undefined, {
    unetQuantization: o.quantize,
    textEncoderQuantization: o.quantizeTextEncoder,
    deepCacheInterval: o.deepCache,
    decoder: o.decoder ?? (o.taesd ? "taesd" : undefined),
  });
  // the graph form the engine would build for this provider (attention kind, weight storage)
  const variant = graphVariantFor(providers, { attention: o.attention, weightStorage: o.weightStorage });
  const convAlgorithms = chooseConvAlgorithms(undefined, {
    executionProviders: providers,
    unetQuantization: speed.unetQuantization ?? "none",
    attentionQuantization: "none",
    vaeQuantization: "none",
    precision: undefined,
    totalMemoryBytes: totalmem(),
  });
  const settings: ProfileSettings = {
    width: o.width ?? o.size,
    height: o.height ?? o.size,
    steps: o.steps ?? defaults.steps,
    guidance: o.cfg ?? defaults.cfg,
    attention: variant.attention,
    unetQuantization: speed.unetQuantization ?? "none",
    textEncoderQuantization: speed.textEncoderQuantization ?? "none",
    convAlgorithm: convAlgorithms.unet.algorithm,
    vaeDecoderConvAlgorithm: convAlgorithms.vaeDecoder.algorithm,
    int8WeightBits: int8WeightBitsForThisCpu(),
    deepCacheInterval: speed.deepCacheInterval ?? 1,
    todoFactor: speed.todoFactor ?? 1,
    decoder: speed.decoder ?? "vae",
    tileLatentSize: o.tile ?? DEFAULT_TILE_LATENT_SIZE,
  };
  if (settings.decoder === "taesd" && o.taesd === undefined) {
    progress(
      "TAESD: its architecture with synthetic weights (give --taesd PATH for real ones; the counts and times are the same)",
    );
  }
  const report = await runProfile({
    model: model?.path,
    modelName: model?.name,
    taesd: o.taesd,
    settings,
    weightStorage: variant.weightStorage,
    optionsLabel: optionsLabel(o),
    executionProviders: providers,
    threads: o.threads,
    runs: o.countOnly ? 0 : o.runs,
    hardware,
    onProgress: progress,
  });
  process.stdout.write(`${profileText(report)}\n`);
  const written = [lastProfilePaths()];
  if (o.json) written.unshift(profilePaths(resolve(o.json)));
  for (const paths of written) writeProfileFiles(report, paths);
  for (const paths of written) progress(`wrote ${paths.json}, ${paths.stages}, ${paths.roofline}`);
}
