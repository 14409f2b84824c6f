/** `sdlite generate "prompt"`: txt2img, img2img (--init-image) and inpainting (--mask) into PNG files. */

import { type Command, Option } from "commander";
import { CONV_ALGORITHMS, type ConvAlgorithm } from "../../graph/conv-algorithm.js";
import { checkOutputTarget, outputTarget } from "../../image/output-target.js";
import { LATENT_UPSCALE_MODES } from "../../pipeline/latent-upscale.js";
import { RECIPES } from "../../pipeline/recipes.js";
import { scheduleLabels } from "../../schedulers/sigma-schedules.js";
import { DEVICE_NAMES, type DeviceName } from "../device-names.js";
import type { InpaintCliOptions } from "../inpaint-options.js";
import { collect, parseInteger, parseNumber, parseTodoFactor, parseTomeRatio } from "../option-parsers.js";

export interface GenerateOptions extends InpaintCliOptions {
  model?: string;
  negative?: string;
  lora: string[];
  loraDir?: string;
  embeddingsDir?: string;
  sampler?: string;
  scheduler?: string;
  scheduleType?: string;
  steps?: number;
  cfg?: number;
  seed?: number;
  width?: number;
  height?: number;
  initImage?: string;
  strength?: number;
  mask?: string;
  batchSize?: number;
  batchCount?: number;
  rng?: "cpu" | "nv";
  clipSkip?: number;
  padCondUncond?: boolean;
  output: string;
  json?: boolean;
  threads?: number;
  provider?: string;
  device?: DeviceName;
  lowMemory?: boolean;
  fast?: boolean;
  taesd?: string;
  decoder?: "vae" | "taesd";
  deepCache?: number;
  quantize?: "none" | "int8-linear" | "int8";
  quantizeVae?: "none" | "int8";
  quantizeTextEncoder?: "none" | "int8";
  quantizeTaesd?: "none" | "int8";
  quantizeAttention?: "none" | "int8";
  tome?: number;
  todo?: number;
  todoMaxDepth?: string;
  convAlgorithm?: ConvAlgorithm;
  weightStorage?: "auto" | "fp32" | "fp16";
  precision?: "fp32" | "fp16";
  vae?: string;
  config?: string;
  variant?: string;
  recipe?: string;
  eta?: number;
  timestepSpacing?: "leading" | "trailing" | "linspace";
  hires?: boolean;
  hiresScale?: number;
  hiresUpscaler?: string;
  hiresSteps?: number;
  hiresResize?: string;
  hiresSampler?: string;
  hiresPrompt?: string;
  hiresNegative?: string;
  denoisingStrength?: number;
}

const HELP = `
Models (-m):
  a .safetensors/.ckpt checkpoint, a diffusers folder or an ONNX pipeline folder; or a Hugging Face
  repo id (org/name, org/name@revision), downloaded once into the Hugging Face cache ($HF_HUB_CACHE).
  Without -m: Lykon/dreamshaper-8-lcm (LCM distilled; run with LCM, 4 steps, CFG 1 unless told).
  With -m: Euler a, 20 steps, CFG 7.5, 512x512 unless told.

Examples:
  sdlite generate "a photo of a cat" -m ./v1-5-pruned-emaonly.safetensors --seed 42
  sdlite generate "a watercolor landscape" -m model.safetensors --init-image in.png --strength 0.6
  sdlite generate "a red ball" -m sd-inpainting/ --init-image in.png --mask mask.png
  sdlite generate "a red ball" -m model.safetensors --init-image in.png --mask mask.png --mask-blur 4 --inpainting-fill original --inpaint-full-res
  sdlite generate "a wide beach" -m sd-inpainting/ --init-image in.png --outpaint left:128,right:128 --inpainting-fill fill
  sdlite generate "a cat" -m model.safetensors --lora detail.safetensors:0.7 --sampler "DPM++ 2M" --scheduler Karras
  sdlite generate "a fox" -m model.safetensors --sampler "Euler a" --scheduler "SGM Uniform"   (old "DPM++ 2M Karras" names work too)
  sdlite generate "a cat <lora:detail:0.7>" -m model.safetensors --lora-dir ./Lora
  sdlite generate "a castle" -m model.safetensors --hires-scale 2 --hires-upscaler Latent --denoising-strength 0.6
  sdlite generate "a cat" -m model.safetensors --recipe hyper-sd-8 --lora Hyper-SD15-8steps-lora.safetensors
  sdlite generate "a lighthouse at dusk" --fast          (int8 UNet, DeepCache, TAESD, low memory: about 4x faster, not exact)`;

export function registerGenerateCommand(program: Command): void {
  program
    .command("generate")
    .description("generate images from a prompt into PNG files that carry their parameters")
    .argument("<prompt>", "what to draw (A1111 prompt syntax: (word:1.2), [word], BREAK)")
    .option("-m, --model <model>", "checkpoint file, model folder or Hugging Face repo id")
    .option("--negative <text>", "negative prompt")
    .option("--lora <file[:weight]>", "apply a LoRA (weight default 1.0); repeatable", collect, [])
    .option(
      "--lora-dir <dir>",
      "LoRA folder for <lora:name:weight> tags in the prompt (default: $SDLITE_MODELS/Lora)",
    )
    .option(
      "--embeddings-dir <dir>",
      "textual-inversion embeddings (.pt/.bin/.safetensors), used by writing a file's name in a prompt (default: $SDLITE_MODELS/embeddings)",
    )
    .option("--sampler <name>", 'sampler, e.g. "Euler a", "DPM++ 2M", "LCM", dpmpp_2m')
    .option(
      "--scheduler <name>",
      `schedule type (A1111 "Schedule type"), apart from the sampler: ${scheduleLabels().join(", ")} (default Automatic: the sampler's own; only Euler a, Euler, LMS, Heun and the DPM++ samplers take another)`,
    )
    .option("--schedule-type <name>", "same as --scheduler")
    .option("--steps <n>", "denoising steps", parseInteger)
    .option("--cfg <scale>", "classifier-free guidance scale (1 turns guidance off)", parseNumber)
    .option("--seed <seed>", "seed; -1 or omitted: random", parseInteger)
    .option("-W, --width <px>", "image width, a multiple of 8", parseInteger)
    .option("-H, --height <px>", "image height, a multiple of 8", parseInteger)
    .option("--init-image <png>", "img2img / inpainting source image")
    .option("--strength <x>", "img2img denoising strength in (0, 1] (default 0.75)", parseNumber)
    .option("--mask <png>", "inpainting mask, white = repaint")
    .option(
      "--outpaint <sides>",
      "outpainting: extend the init image, e.g. left:128,down:64 (sides left, right, up, down); each side of the canvas is rounded up to a multiple of 8; the new area is masked and generated",
    )
    .option(
      "--inpainting-fill <kind>",
      "A1111 masked content: fill, original, latent-noise or latent-nothing (0..3); default original, fill with --outpaint",
    )
    .option(
      "--mask-blur <px>",
      "A1111 mask blur: Gaussian sigma in pixels (default 4 with A1111 inpainting options)",
      parseInteger,
    )
    .option(
      "--inpaint-full-res",
      'A1111 "Only masked": inpaint the masked area\'s box (plus --inpaint-padding) at the full -W x -H size, then paste it back',
    )
    .option(
      "--inpaint-padding <px>",
      'padding around the masked area for "Only masked" (default 32)',
      parseInteger,
    )
    .option("--invert-mask", "repaint what the mask leaves black (A1111 inpainting_mask_invert)")
    .option("--batch-size <n>", "images per batch (run together)", parseInteger)
    .option("--batch-count <n>", "batches, one after the other", parseInteger)
    .addOption(
      new Option("--rng <source>", "random numbers: cpu (torch CPU) or nv (Philox, as A1111 NV)").choices([
        "cpu",
        "nv",
      ]),
    )
    .option("--clip-skip <n>", "A1111 Clip skip (1 = last layer)", parseInteger)
    .option(
      "--pad-cond-uncond",
      "A1111's pad_cond_uncond: pad a prompt and negative prompt of different lengths with empty-prompt windows to one UNet batch (default: two UNet calls, each at its own length)",
    )
    .option(
      "--recipe <name>",
      `few-step preset setting sampler, schedule, steps, CFG (and eta) together; explicit options win: ${RECIPES.map((r) => r.name).join(", ")}`,
    )
    .option(
      "--eta <x>",
      "DDIM eta / TCD gamma in [0, 1] (default: the sampler's, DDIM 0, TCD 0.3)",
      parseNumber,
    )
    .addOption(
      new Option(
        "--timestep-spacing <kind>",
        "timestep spacing replacing the model's scheduler config (diffusers' timestep_spacing)",
      ).choices(["leading", "trailing", "linspace"]),
    )
    .option(
      "--hires",
      "hires fix (A1111 enable_hr) with its defaults: Latent upscaler, scale 2, strength 0.75",
    )
    .option(
      "--hires-scale <x>",
      "hires fix: enlarge the first image by this factor (A1111 hr_scale, default 2)",
      parseNumber,
    )
    .option(
      "--hires-upscaler <name|file>",
      `hires fix upscaler (A1111 hr_upscaler): ${Object.keys(LATENT_UPSCALE_MODES).join(", ")}, Lanczos, Nearest, None, or an ESRGAN .pth/.safetensors file (or its name in $SDLITE_MODELS/ESRGAN)`,
    )
    .option(
      "--hires-steps <n>",
      "hires fix second-pass steps (A1111 hr_second_pass_steps; 0: the same as --steps)",
      parseInteger,
    )
    .option(
      "--hires-resize <WxH>",
      "hires fix: final size instead of --hires-scale (A1111 hr_resize_x/y; 0 for one side keeps the aspect)",
    )
    .option("--hires-sampler <name>", "hires fix second-pass sampler (default: --sampler's)")
    .option("--hires-prompt <text>", "hires fix second-pass prompt (default: the prompt)")
    .option("--hires-negative <text>", "hires fix second-pass negative prompt (default: --negative)")
    .option(
      "--denoising-strength <x>",
      "A1111 denoising_strength: the hires second pass's strength (default 0.75), or img2img's (same as --strength)",
      parseNumber,
    )
    .option(
      "-o, --output <dir|file.png>",
      "output folder (A1111 names: 00012-<seed>.png), or a file name ending in .png (more images: name-1.png, name-2.png, …); existing files are never overwritten",
      "outputs",
    )
    .option("--json", "print one JSON object (files, seeds, infotexts, timings) on stdout")
    .option("--threads <n>", "threads per operator (default: physical cores)", parseInteger)
    .option("--provider <name>", 'onnxruntime execution provider(s), e.g. "cpu" or "webgpu,cpu"')
    .addOption(
      new Option(
        "--device <name>",
        "where the networks run: cpu (default), webgpu (an error if no adapter works), auto (WebGPU on a GPU if a probe runs right on it, else the CPU with a note; a software adapter only with webgpu); dml/coreml where onnxruntime-node bundles them",
      ).choices([...DEVICE_NAMES]),
    )
    .option("--low-memory", "load each network only while it runs (on with --fast)")
    .option("--no-low-memory", "keep every network loaded (with --fast)")
    .option(
      "--fast",
      "speed preset: --quantize int8 --deep-cache 3 --decoder taesd --todo 2 --quantize-text-encoder int8 --low-memory (options given explicitly win); TAESD from madebyollin/taesd unless --taesd, the full VAE if that cannot be had",
    )
    .option(
      "--taesd <path|repo>",
      "TAESD weights for the fast decoder: folder, file or Hugging Face repo id (e.g. madebyollin/taesd)",
    )
    .addOption(
      new Option(
        "--decoder <kind>",
        "VAE decoder: vae (quality) or taesd (fast; default when --taesd is given)",
      ).choices(["vae", "taesd"]),
    )
    .option(
      "--deep-cache <n>",
      "run the whole UNet every n-th call, its shallow part in between (1 = off)",
      parseInteger,
    )
    .addOption(
      new Option(
        "--quantize <kind>",
        "int8 UNet layers: none, int8-linear (transformer linears) or int8 (also convs)",
      ).choices(["none", "int8-linear", "int8"]),
    )
    .addOption(
      new Option(
        "--quantize-vae <kind>",
        "int8 convs in the VAE decoder's blocks: none or int8 (not in --fast; docs/benchmarks.md has the error)",
      ).choices(["none", "int8"]),
    )
    .addOption(
      new Option(
        "--quantize-text-encoder <kind>",
        "int8 text encoder transformer linears: none or int8 (int8 with --fast; docs/benchmarks.md has the error)",
      ).choices(["none", "int8"]),
    )
    .addOption(
      new Option(
        "--quantize-taesd <kind>",
        "int8 convs in TAESD's decoder (decodes and previews): none or int8 (not in --fast; docs/benchmarks.md has the error)",
      ).choices(["none", "int8"]),
    )
    .addOption(
      new Option(
        "--quantize-attention <kind>",
        "the UNet's attention products (q·k^T, softmax·v) in int8: none or int8; uses matmul attention (not in --fast; docs/benchmarks.md has the error)",
      ).choices(["none", "int8"]),
    )
    .addOption(
      new Option(
        "--conv-algorithm <kind>",
        "3x3 convs of the UNet, VAE and TAESD: direct (onnxruntime's Conv) or Winograd in the graph (more memory; docs/benchmarks.md has the speed, memory and error). Default, per network: winograd-f4-shallow for a float UNet and winograd-f4-wide for the VAE decoder on the CPU with 16 GiB of RAM or more, else direct; TAESD direct",
      ).choices([...CONV_ALGORITHMS]),
    )
    .option(
      "--tome <ratio>",
      "ToMe token merging: merge this fraction of the full-resolution tokens before self-attention (e.g. 0.5); only for images above 512 px, ignored with a note otherwise",
      parseTomeRatio,
    )
    .option(
      "--todo <factor>",
      "ToDo token downsampling: full-resolution self-attention takes its keys and values from its tokens downsampled by this factor (e.g. 2; 1 = off); not with --tome",
      parseTodoFactor,
    )
    .addOption(
      new Option(
        "--todo-max-depth <depth>",
        "with --todo: 1 = full-resolution blocks only (default), 2 = also the half-resolution ones",
      ).choices(["1", "2"]),
    )
    .addOption(
      new Option(
        "--weight-storage <kind>",
        "built graphs' weights: auto (fp16 for an fp16 checkpoint, exact), fp32, or fp16 (rounds fp32 weights)",
      ).choices(["auto", "fp32", "fp16"]),
    )
    .addOption(
      new Option(
        "--precision <kind>",
        "network arithmetic: fp32, or fp16 weights and activations (float32 softmax and norms); default fp16 on a WebGPU adapter with f16 shaders, else fp32",
      ).choices(["fp32", "fp16"]),
    )
    .option("--vae <file>", "standalone VAE replacing the model's own")
    .option(
      "--config <file>",
      "what a single-file checkpoint cannot tell: sdlite overrides JSON, or A1111's LDM .yaml (e.g. v2-inference-v.yaml)",
    )
    .option("--variant <name>", 'weights variant to download and prefer, e.g. "fp16"')
    .showHelpAfterError(false)
    .addHelpText("after", HELP)
    .action(async (prompt: string, options: GenerateOptions) => {
      // before the model is loaded, not after the images are made
      await checkOutputTarget(outputTarget(options.output));
      // the UNet this command line loaded last time starts loading in its worker thread now, while
      // the rest is imported and resolved (unet-preload.ts); onnxruntime loads only for this command
      const { runBesideUnetPreload, startUnetPreload } = await import("../unet-preload.js");
      const preload = startUnetPreload(options);
      await runBesideUnetPreload(preload, async () => {
        const { runGenerate } = await import("../run-generate.js");
        await runGenerate(prompt, options, preload);
      });
    });
}
