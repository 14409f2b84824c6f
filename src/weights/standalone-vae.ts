/**
 * A VAE given on its own to replace a model's (e.g. vae-ft-mse-840000): an LDM-named file with or
 * without the `first_stage_model.` prefix, a diffusers-named file, or a diffusers `vae/` folder.
 * Also TAESD: a diffusers AutoencoderTiny folder or its weights file, or madebyollin's own files.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { type ArchitectureOverrides, mergeOverrides } from "./architecture/architecture-overrides.js";
import { classifyWeightFile, detectVae, stripPrefix } from "./architecture/detect-architecture.js";
import type { TaesdConfig, VaeConfig } from "./architecture/model-config.js";
import { readOverridesSidecar } from "./architecture/overrides-sidecar.js";
import { componentFromFiles, type OpenedComponent, openDiffusersComponent } from "./diffusers-component.js";
import { openWeightsFile } from "./formats/open-weights-file.js";
import { tensorShapes } from "./formats/tensor-file.js";
import { vaeTensorMap } from "./key-maps/vae-key-map.js";
import { ldmComponent } from "./ldm-component.js";
import { madebyollinTaesdFiles, openMadebyollinTaesd } from "./madebyollin-taesd.js";
import { ModelLoadError } from "./model-load-error.js";
import { notAModelAdvice } from "./single-file-checkpoint.js";
import { taesdFromFiles } from "./taesd-from-files.js";

function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** A folder given for a component may be the component folder itself or a pipeline folder holding it. */
function componentFolder(path: string, subfolder: string): string {
  return !existsSync(join(path, "config.json")) && isDirectory(join(path, subfolder))
    ? join(path, subfolder)
    : path;
}

export function openStandaloneVae(
  path: string,
  overrides?: ArchitectureOverrides["vae"],
  variant?: string,
): OpenedComponent<VaeConfig> {
  if (isDirectory(path)) return openDiffusersComponent(componentFolder(path, "vae"), "vae", variant);
  const file = openWeightsFile(path);
  try {
    const kind = classifyWeightFile(file.names(), path);
    const merged = mergeOverrides(readOverridesSidecar(path), { vae: overrides }).vae;
    const shapes = tensorShapes(file);
    if (kind === "ldm-vae") {
      const prefix = file.names().some((n) => n.startsWith("first_stage_model.encoder."))
        ? "first_stage_model."
        : "";
      const detected = detectVae(stripPrefix(shapes, prefix), "ldm", path, merged, prefix);
      const component = ldmComponent({
        file,
        prefix,
        label: "VAE",
        config: detected.config,
        mappings: vaeTensorMap(detected.config),
        assumed: detected.assumed,
        // VAE releases carry training leftovers (discriminator loss, EMA copies) beside the weights
        ignore: prefix === "" ? /^(?!encoder\.|decoder\.|quant_conv\.|post_quant_conv\.)/ : /^loss\./,
      });
      return { ...component, close: () => file.close() };
    }
    if (kind === "diffusers-vae") {
      const detected = detectVae(shapes, "diffusers", path, merged);
      return { ...componentFromFiles("vae", detected.config, [file], path), assumed: detected.assumed };
    }
    if (kind === "ldm-checkpoint") {
      throw new ModelLoadError(
        "not-a-model",
        path,
        "this is a full SD1.x checkpoint, not a VAE; load it as the model, or give a VAE file (e.g. vae-ft-mse-840000-ema-pruned.safetensors)",
      );
    }
    throw new ModelLoadError("not-a-model", path, `expected a VAE, but ${notAModelAdvice(kind)}`);
  } catch (err) {
    file.close();
    throw err;
  }
}

export function openTaesd(path: string): OpenedComponent<TaesdConfig> {
  if (isDirectory(path)) {
    // madebyollin/taesd's own layout: taesd_encoder/taesd_decoder.safetensors and no config.json
    const madebyollin = existsSync(join(path, "config.json")) ? undefined : madebyollinTaesdFiles(path);
    if (madebyollin) return openMadebyollinTaesd(madebyollin);
    return openDiffusersComponent(componentFolder(path, "taesd"), "taesd");
  }
  return taesdFromFiles([openWeightsFile(path)], path);
}
