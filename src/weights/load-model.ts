/**
 * The model loader's entry point: any supported SD1.x/SD2.x format in, one LoadedModel out.
 *
 *   - single-file `.safetensors` in the original LDM layout (F32/F16/BF16), or the same as a
 *     torch.save `.ckpt`, read by the restricted reader (never Python unpickling)
 *   - diffusers folder (`model_index.json`, `unet/`, `text_encoder/`, `vae/`, `tokenizer/`,
 *     `scheduler/`; fp32 or `.fp16` weight variants, single or sharded)
 *   - ONNX pipeline folder (`unet/model.onnx`, `text_encoder/`, `vae_decoder/`, `vae_encoder/`)
 *   - plus, optionally, a standalone VAE replacing the model's own and TAESD weights
 *
 * Everything else (SDXL, SD3, Flux, LoRAs, pickles, damaged files) is refused with a
 * ModelLoadError that says what was found. SD2.x (SD 2.1-base, 2.1-768 v-prediction, SD-Turbo) is
 * the same networks configured differently; each model comes with a ModelProfile saying which.
 */
import { existsSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import type { ArchitectureOverrides } from "./architecture/architecture-overrides.js";
import type { ModelFamily } from "./architecture/model-config.js";
import { type OpenedComponent, openDiffusersComponent, readJsonFile } from "./diffusers-component.js";
import type { LoadedModel, LoadedOnnxModel, LoadedWeightsModel, WeightsComponent } from "./loaded-model.js";
import { checkCompatible } from "./model-compatibility.js";
import { ModelLoadError } from "./model-load-error.js";
import { modelProfile, unetFamily, withPredictionType } from "./model-profile.js";
import { isOnnxFolder, openOnnxFolder } from "./onnx-folder.js";
import { schedulerIn, tokenizerIn } from "./pipeline-extras.js";
import { openSingleFileCheckpoint } from "./single-file-checkpoint.js";
import { singleFileModel } from "./single-file-model.js";
import { openStandaloneVae, openTaesd } from "./standalone-vae.js";

export interface LoadModelOptions {
  /**
   * Architecture details a single file cannot tell (GroupNorm groups, heads, activation, prediction
   * type). Beats a `<checkpoint>.sdlite.json` and an A1111 `<stem>.yaml` beside the file; all beat
   * SD1.5's (SD 2.x's) values. `vae` also applies to a standalone VAE file; `scheduler.predictionType`
   * to every format.
   */
  overrides?: ArchitectureOverrides;
  /** A standalone VAE (LDM or diffusers file, or a diffusers `vae` folder) replacing the model's own. */
  vae?: string;
  /** TAESD weights: a diffusers AutoencoderTiny folder or its safetensors file. */
  taesd?: string;
  /** diffusers folders: "fp16" prefers `*.fp16.safetensors`; default prefers the full-precision files. */
  variant?: string;
}

/**
 * Pipelines whose components sdlite builds (SD1.x, and SD2.x, which uses the same classes).
 * LatentConsistencyModelPipeline (e.g. SimianLuo/LCM_Dreamshaper_v7) is SD1.5's components with a
 * guidance embedding in the UNet.
 */
const SD1_PIPELINES =
  /^(StableDiffusion(Img2Img|Inpaint)?Pipeline|OnnxStableDiffusion(Img2Img|Inpaint)?Pipeline|ORTStableDiffusion(Img2Img|Inpaint)?Pipeline|LatentConsistencyModel(Img2Img)?Pipeline)$/;

const OTHER_PIPELINES: [RegExp, string][] = [
  [/XL/, "an SDXL pipeline"],
  [/StableDiffusion3/, "a Stable Diffusion 3 pipeline"],
  [/Flux/, "a Flux pipeline"],
  [
    /Upscale|Depth2Img|ImageVariation|InstructPix2Pix|Cascade|Kandinsky|PixArt|Latent(Consistency)?/,
    "a pipeline sdlite does not build",
  ],
];

export function loadModel(path: string, options: LoadModelOptions = {}): LoadedModel {
  if (!existsSync(path)) throw new ModelLoadError("missing-file", path, "no such file or folder");
  if (statSync(path).isDirectory()) return loadFolder(path, options);
  if (extname(path).toLowerCase() === ".onnx") {
    throw new ModelLoadError(
      "unknown-format",
      path,
      "a single ONNX model; give the ONNX pipeline folder (the one holding unet/, text_encoder/, vae_decoder/)",
    );
  }
  return loadSingleFile(path, options);
}

/** Closes what was opened so far when a later step fails. */
class Opened {
  private readonly closers: (() => void)[] = [];
  add<T extends { close(): void }>(item: T): T {
    this.closers.push(() => item.close());
    return item;
  }
  closeAll(): void {
    for (const close of this.closers.splice(0).reverse()) close();
  }
}

function extras(options: LoadModelOptions, opened: Opened) {
  const vae = options.vae
    ? opened.add(openStandaloneVae(options.vae, options.overrides?.vae, options.variant))
    : undefined;
  const taesd = options.taesd ? opened.add(openTaesd(options.taesd)) : undefined;
  return { vae, taesd };
}

function stripClose<C>(c: OpenedComponent<C>): WeightsComponent<C> {
  const { close: _close, ...component } = c;
  return component;
}

function loadSingleFile(path: string, options: LoadModelOptions): LoadedWeightsModel {
  const opened = new Opened();
  try {
    const checkpoint = openSingleFileCheckpoint(path, options.overrides);
    opened.add(checkpoint.file);
    const { vae: standaloneVae, taesd } = extras(options, opened);
    return singleFileModel(path, checkpoint, {
      vae: standaloneVae && stripClose(standaloneVae),
      vaeReplacedBy: standaloneVae ? options.vae : undefined,
      taesd: taesd && stripClose(taesd),
      close: () => opened.closeAll(),
    });
  } catch (err) {
    opened.closeAll();
    throw err;
  }
}

function loadFolder(dir: string, options: LoadModelOptions): LoadedModel {
  const indexPath = join(dir, "model_index.json");
  if (existsSync(indexPath)) {
    const className = String(readJsonFile(indexPath)._class_name ?? "");
    if (!SD1_PIPELINES.test(className)) {
      const other = OTHER_PIPELINES.find(([re]) => re.test(className));
      if (other || className === "") {
        throw new ModelLoadError(
          "unsupported-architecture",
          indexPath,
          `this is ${other ? other[1] : "an unnamed pipeline"} (${className || "no _class_name"}); sdlite loads Stable Diffusion 1.x and 2.x models only`,
        );
      }
      // an unknown class name with SD1 components is still tried: the components are checked one by one
    }
  }
  if (isOnnxFolder(dir)) return loadOnnxFolder(dir, options);
  if (existsSync(join(dir, "unet", "config.json"))) return loadDiffusersFolder(dir, options);
  if (existsSync(join(dir, "config.json"))) {
    throw new ModelLoadError(
      "unknown-format",
      dir,
      "this is a single diffusers component folder; give the pipeline folder (the one with model_index.json), or use it as options.vae / options.taesd",
    );
  }
  throw new ModelLoadError(
    "unknown-format",
    dir,
    "neither a diffusers folder (model_index.json, unet/config.json) nor an ONNX pipeline folder (unet/model.onnx)",
  );
}

function loadDiffusersFolder(dir: string, options: LoadModelOptions): LoadedWeightsModel {
  const opened = new Opened();
  try {
    const unet = opened.add(openDiffusersComponent(join(dir, "unet"), "unet", options.variant));
    const textEncoder = opened.add(
      openDiffusersComponent(join(dir, "text_encoder"), "text_encoder", options.variant),
    );
    const { vae: standaloneVae, taesd } = extras(options, opened);
    const vae = standaloneVae ?? opened.add(openDiffusersComponent(join(dir, "vae"), "vae", options.variant));
    checkCompatible(dir, unet.config, textEncoder.config, vae.config, taesd?.config);
    const family = unetFamily(unet.config);
    const { scheduler, profile } = folderScheduler(dir, family, options);
    return {
      format: "diffusers",
      path: dir,
      profile,
      inpainting: unet.config.inChannels === 9,
      unet: stripClose(unet),
      textEncoder: stripClose(textEncoder),
      vae: stripClose(vae),
      vaeReplacedBy: standaloneVae ? options.vae : undefined,
      taesd: taesd && stripClose(taesd),
      tokenizer: tokenizerIn(dir, family),
      scheduler,
      close: () => opened.closeAll(),
    };
  } catch (err) {
    opened.closeAll();
    throw err;
  }
}

/** A pipeline folder's scheduler config, with the overrides' prediction type, and the profile from both. */
function folderScheduler(dir: string, family: ModelFamily, options: LoadModelOptions) {
  const told = options.overrides?.scheduler?.predictionType;
  const scheduler = withPredictionType(schedulerIn(dir, { family }), told);
  const unetConfig = join(dir, "unet", "config.json");
  const sampleSize = existsSync(unetConfig) ? readJsonFile(unetConfig).sample_size : undefined;
  const from = told ? "override" : scheduler.kind === "file" ? "scheduler-config" : "default";
  return { scheduler, profile: modelProfile(family, scheduler, from, { sampleSize }) };
}

function loadOnnxFolder(dir: string, options: LoadModelOptions): LoadedOnnxModel {
  const opened = new Opened();
  try {
    const folder = openOnnxFolder(dir);
    const { vae, taesd } = extras(options, opened);
    const { scheduler, profile } = folderScheduler(dir, folder.family, options);
    return {
      format: "onnx",
      path: dir,
      ...folder,
      scheduler,
      profile,
      vae: vae && stripClose(vae),
      vaeReplacedBy: vae ? options.vae : undefined,
      taesd: taesd && stripClose(taesd),
      close: () => opened.closeAll(),
    };
  } catch (err) {
    opened.closeAll();
    throw err;
  }
}
