/**
 * An ONNX Stable Diffusion pipeline folder (diffusers' OnnxStableDiffusionPipeline layout:
 * `text_encoder/`, `unet/` (+ external `weights.pb`), `vae_decoder/`, `vae_encoder/` each with a
 * model.onnx, plus `tokenizer/` and `scheduler/`). The models are described, not rebuilt: the
 * engine runs them as they are, feeding inputs with the names and element types read here.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { tokenizerFileOptions } from "../tokenizer/load-tokenizer.js";
import type { ModelFamily } from "./architecture/model-config.js";
import { readOnnxModelInfo } from "./formats/onnx-model-info.js";
import type { OnnxComponent } from "./loaded-model.js";
import { listSome, ModelLoadError } from "./model-load-error.js";
import { schedulerIn, tokenizerIn } from "./pipeline-extras.js";

/** Input names the pipelines feed (fixtures README, ONNX table). */
const REQUIRED_INPUTS: Record<string, readonly string[]> = {
  text_encoder: ["input_ids"],
  unet: ["sample", "timestep", "encoder_hidden_states"],
  vae_decoder: ["latent_sample"],
  vae_encoder: ["sample"],
};

export function isOnnxFolder(dir: string): boolean {
  return existsSync(join(dir, "unet", "model.onnx"));
}

function describe(dir: string, name: string): OnnxComponent {
  const modelPath = join(dir, name, "model.onnx");
  if (!existsSync(modelPath))
    throw new ModelLoadError("missing-file", modelPath, `the ONNX ${name} model is missing`);
  let info: ReturnType<typeof readOnnxModelInfo>;
  try {
    info = readOnnxModelInfo(modelPath);
  } catch (err) {
    throw new ModelLoadError("unreadable", modelPath, (err as Error).message.replace(`${modelPath}: `, ""));
  }
  for (const file of info.externalDataFiles) {
    const path = join(dirname(modelPath), file);
    if (!existsSync(path)) {
      throw new ModelLoadError("missing-file", path, `external weights of ${name}/model.onnx are missing`);
    }
  }
  const names = info.inputs.map((i) => i.name);
  const missing = REQUIRED_INPUTS[name].filter((n) => !names.includes(n));
  if (missing.length > 0) {
    throw new ModelLoadError(
      "unsupported-config",
      modelPath,
      `${name} model has inputs ${listSome(names)}, expected ${listSome([...REQUIRED_INPUTS[name]])}`,
    );
  }
  return { kind: "onnx", modelPath, ...info };
}

/** The static size of `input`'s dim `axis`, else what the first Conv on it expects. */
function channelsOf(model: OnnxComponent, input: string, axis: number): number | undefined {
  const dim = model.inputs.find((i) => i.name === input)?.shape[axis];
  return typeof dim === "number" ? dim : model.convInputChannels[input];
}

export interface OnnxPipelineFolder {
  unet: OnnxComponent;
  textEncoder: OnnxComponent;
  vaeDecoder: OnnxComponent;
  vaeEncoder?: OnnxComponent;
  inpainting: boolean;
  /** "sd2" when the UNet takes 1024-wide (OpenCLIP) text embeddings. */
  family: ModelFamily;
  tokenizer: ReturnType<typeof tokenizerIn>;
  scheduler: ReturnType<typeof schedulerIn>;
}

export function openOnnxFolder(dir: string): OnnxPipelineFolder {
  const unet = describe(dir, "unet");
  const context = unet.inputs.find((i) => i.name === "encoder_hidden_states")?.shape[2];
  if (context === 2048) {
    throw new ModelLoadError(
      "unsupported-architecture",
      dir,
      "the ONNX UNet takes 2048-wide text embeddings: this is an SDXL pipeline; sdlite loads Stable Diffusion 1.x and 2.x models only",
    );
  }
  // SD 2.x: 1024-wide OpenCLIP states, or (where the export left the width symbolic, or for small
  // test models) SD 2.x's tokenizer, the only one padding with "!"
  const family: ModelFamily =
    context === 1024 || tokenizerFileOptions(join(dir, "tokenizer")).padToken === "!" ? "sd2" : "sd1";
  const inChannels = channelsOf(unet, "sample", 1);
  if (inChannels !== undefined && inChannels !== 4 && inChannels !== 9) {
    throw new ModelLoadError(
      "unsupported-config",
      dir,
      `the ONNX UNet takes ${inChannels}-channel samples (4 or 9 supported)`,
    );
  }
  return {
    unet,
    textEncoder: describe(dir, "text_encoder"),
    vaeDecoder: describe(dir, "vae_decoder"),
    vaeEncoder: existsSync(join(dir, "vae_encoder", "model.onnx")) ? describe(dir, "vae_encoder") : undefined,
    inpainting: inChannels === 9,
    family,
    tokenizer: tokenizerIn(dir, family),
    scheduler: schedulerIn(dir),
  };
}
