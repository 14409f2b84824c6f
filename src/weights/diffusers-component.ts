/**
 * One component folder of a diffusers pipeline (`unet/`, `vae/`, `text_encoder/`, or a TAESD
 * folder): config.json parsed, the weight file(s) picked (fp32 or `.fp16` variant, single or
 * sharded), every tensor checked against the list the config implies.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  ConfigError,
  parseTaesdConfig,
  parseTextEncoderConfig,
  parseUNetConfig,
  parseVaeConfig,
} from "./architecture/diffusers-config.js";
import {
  type ConfigOf,
  componentFromFiles,
  type DiffusersComponentKind,
  LABEL,
  type OpenedComponent,
} from "./component-from-files.js";
import { openWeightsFile } from "./formats/open-weights-file.js";
import type { TensorFile } from "./formats/tensor-file.js";
import { ModelLoadError } from "./model-load-error.js";

export { componentFromFiles, type DiffusersComponentKind, type OpenedComponent };

/** diffusers writes `diffusion_pytorch_model.*`, transformers `model.*`. */
const WEIGHT_BASENAME: Record<DiffusersComponentKind, string> = {
  unet: "diffusion_pytorch_model",
  vae: "diffusion_pytorch_model",
  taesd: "diffusion_pytorch_model",
  text_encoder: "model",
};

export function readJsonFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new ModelLoadError("missing-file", path, "no such file");
  try {
    const value = JSON.parse(readFileSync(path, "utf-8"));
    if (value === null || typeof value !== "object" || Array.isArray(value))
      throw new Error("not a JSON object");
    return value;
  } catch (err) {
    throw new ModelLoadError(
      "unsupported-config",
      path,
      `not a valid JSON object (${(err as Error).message})`,
    );
  }
}

/**
 * The weight files of a component folder: `variant` ("fp16") first when asked for, otherwise the
 * full-precision files first and the variant as fallback (a folder may ship only one of them).
 * safetensors are preferred; a torch.save `.bin` is read by the restricted reader.
 */
export function findWeightFiles(dir: string, baseName: string, variant?: string): string[] {
  const variants = variant ? [variant, undefined] : [undefined, "fp16"];
  for (const v of variants) {
    const single = join(dir, v ? `${baseName}.${v}.safetensors` : `${baseName}.safetensors`);
    if (existsSync(single)) return [single];
    const index = join(
      dir,
      v ? `${baseName}.safetensors.index.${v}.json` : `${baseName}.safetensors.index.json`,
    );
    if (existsSync(index)) return shardsOf(index);
  }
  // transformers names its pickles pytorch_model.bin, diffusers diffusion_pytorch_model.bin
  const binBase = baseName === "model" ? "pytorch_model" : baseName;
  for (const v of variants) {
    const bin = join(dir, v ? `${binBase}.${v}.bin` : `${binBase}.bin`);
    if (existsSync(bin)) return [bin];
  }
  const entries = existsSync(dir) ? readdirSync(dir) : [];
  throw new ModelLoadError(
    "missing-file",
    dir,
    `no ${baseName}.safetensors (or .fp16.safetensors, a sharded .safetensors.index.json, or ${binBase}.bin) here; found ${entries.join(", ") || "nothing"}`,
  );
}

function shardsOf(indexPath: string): string[] {
  const index = readJsonFile(indexPath);
  const map = index.weight_map;
  if (map === null || typeof map !== "object") {
    throw new ModelLoadError("unsupported-config", indexPath, 'no "weight_map" object');
  }
  const files = [...new Set(Object.values(map as Record<string, unknown>).map(String))];
  return files.map((f) => join(dirname(indexPath), f));
}

function parseConfig<K extends DiffusersComponentKind>(kind: K, path: string): ConfigOf[K] {
  const json = readJsonFile(path);
  try {
    switch (kind) {
      case "unet": {
        refuseOtherUnets(json, path);
        return parseUNetConfig(json) as ConfigOf[K];
      }
      case "vae":
        return parseVaeConfig(json) as ConfigOf[K];
      case "text_encoder":
        return parseTextEncoderConfig(json) as ConfigOf[K];
      default:
        return parseTaesdConfig(json) as ConfigOf[K];
    }
  } catch (err) {
    if (err instanceof ConfigError) throw new ModelLoadError("unsupported-config", path, err.message);
    throw err;
  }
}

/** SDXL UNets parse as UNet2DConditionModel too: name them before a detail trips. */
function refuseOtherUnets(json: Record<string, unknown>, path: string): void {
  const ctx = json.cross_attention_dim;
  if (json.addition_embed_type === "text_time" || ctx === 2048) {
    throw new ModelLoadError(
      "unsupported-architecture",
      path,
      `this is an SDXL UNet (cross_attention_dim ${JSON.stringify(ctx)}); sdlite loads Stable Diffusion 1.x and 2.x models only`,
    );
  }
}

/** Opens `<dir>/config.json` + its weights. */
export function openDiffusersComponent<K extends DiffusersComponentKind>(
  dir: string,
  kind: K,
  variant?: string,
): OpenedComponent<ConfigOf[K]> {
  if (!existsSync(dir)) {
    throw new ModelLoadError("missing-file", dir, `the ${LABEL[kind]} folder is missing`);
  }
  const config = parseConfig(kind, join(dir, "config.json"));
  const paths = findWeightFiles(dir, WEIGHT_BASENAME[kind], variant);
  const files: TensorFile[] = [];
  try {
    for (const p of paths) files.push(openWeightsFile(p));
    return componentFromFiles(kind, config, files, paths.length === 1 ? paths[0] : dir);
  } catch (err) {
    for (const f of files) f.close();
    throw err;
  }
}
