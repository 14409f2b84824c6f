/**
 * AUTOMATIC1111's model config: the original LDM inference `.yaml` (v1-inference.yaml,
 * v2-inference-v.yaml, …), which A1111 reads from beside a checkpoint (`model.safetensors` →
 * `model.yaml`). sdlite takes from it what tensor shapes cannot tell:
 *
 *   model.params.parameterization: "v"            → scheduler.predictionType v_prediction ("eps" or
 *                                                   absent: epsilon, LatentDiffusion's default)
 *   model.params.scale_factor                     → vae.scalingFactor
 *   model.params.unet_config.params.num_head_channels (≠ -1) → unet.headChannels (SD 2.x: 64)
 *   model.params.unet_config.params.num_heads (≠ -1)         → unet.attentionHeads (SD1.x: 8)
 *
 * Everything else in the file (training settings, widths the shapes show) is ignored.
 */
import { existsSync, readFileSync } from "node:fs";
import { extname } from "node:path";
import { parse } from "yaml";
import { ModelLoadError } from "../model-load-error.js";
import { type ArchitectureOverrides, parseArchitectureOverrides } from "./architecture-overrides.js";

type Yaml = Record<string, unknown>;

function section(value: unknown, key: string): Yaml | undefined {
  const v = (value as Yaml | undefined)?.[key];
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Yaml) : undefined;
}

/** An LDM config document (already parsed) → overrides; refuses what is not an LDM model config. */
export function overridesFromLdmConfig(doc: unknown, source: string): ArchitectureOverrides {
  const params = section(section(doc, "model"), "params");
  if (!params) {
    throw new ModelLoadError(
      "unsupported-config",
      source,
      "not an LDM model config (no model.params); expected a file like A1111's v2-inference-v.yaml",
    );
  }
  const unetParams = section(section(params, "unet_config"), "params") ?? {};
  const given = (v: unknown) => v !== undefined && v !== null && v !== -1;
  const unet: Yaml = {};
  if (given(unetParams.num_head_channels)) unet.headChannels = unetParams.num_head_channels;
  else if (given(unetParams.num_heads)) unet.attentionHeads = unetParams.num_heads;
  const overrides: Yaml = {
    scheduler: { predictionType: params.parameterization ?? "eps" },
    ...(Object.keys(unet).length > 0 && { unet }),
    ...(given(params.scale_factor) && { vae: { scalingFactor: params.scale_factor } }),
  };
  return parseArchitectureOverrides(overrides, source);
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf-8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelLoadError(
      code === "ENOENT" ? "missing-file" : "unreadable",
      path,
      code === "ENOENT" ? "no such file" : (err as Error).message,
    );
  }
}

/**
 * A config file given by the user (`--config`): sdlite's JSON overrides, or an LDM `.yaml`
 * (`.yaml` / `.yml`) as AUTOMATIC1111 uses them.
 */
export function readOverridesFile(path: string): ArchitectureOverrides {
  const text = readText(path);
  const yaml = [".yaml", ".yml"].includes(extname(path).toLowerCase());
  let doc: unknown;
  try {
    doc = yaml ? parse(text) : JSON.parse(text);
  } catch (err) {
    throw new ModelLoadError(
      "unsupported-config",
      path,
      `not valid ${yaml ? "YAML" : "JSON"} (${(err as Error).message.split("\n")[0]})`,
    );
  }
  return yaml ? overridesFromLdmConfig(doc, path) : parseArchitectureOverrides(doc, path);
}

/** A1111's place for a checkpoint's config: the same path with `.yaml` for the extension. */
export function ldmConfigSidecarPath(checkpointPath: string): string {
  const ext = extname(checkpointPath);
  return `${ext ? checkpointPath.slice(0, -ext.length) : checkpointPath}.yaml`;
}

/** The `.yaml` beside a checkpoint, if there is one. */
export function readLdmConfigSidecar(checkpointPath: string): ArchitectureOverrides | undefined {
  const path = ldmConfigSidecarPath(checkpointPath);
  return existsSync(path) ? readOverridesFile(path) : undefined;
}
