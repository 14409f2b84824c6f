/** `sdlite profile`: where the time and the bytes of one image go, per stage and op kind. */
import { type Command, Option } from "commander";
import { collect, parseInteger, parseNumber } from "../option-parsers.js";

export interface ProfileOptions {
  model?: string;
  size: number;
  width?: number;
  height?: number;
  steps?: number;
  cfg?: number;
  device?: string;
  threads?: number;
  fast?: boolean;
  quantize?: "none" | "int8-linear" | "int8";
  quantizeTextEncoder?: "none" | "int8";
  deepCache?: number;
  decoder?: "vae" | "taesd";
  taesd?: string;
  attention?: "mha" | "matmul";
  tile?: number;
  weightStorage?: "auto" | "fp32" | "fp16";
  hardware: string[];
  runs: number;
  countOnly?: boolean;
  json?: string;
}

const HELP = `
Without -m the networks are SD1.5's (full size) with synthetic weights made in memory: nothing is
downloaded, and kernel times do not depend on weight values. With -m, the model's own architecture
and weights (a checkpoint or diffusers folder; a Hugging Face repo id is downloaded first).

--hardware takes a JSON file or the name of a shipped one:
  npu-8k-mac          8192 int8 MACs at 750 MHz, 8 MB SRAM, 12 GB/s DDR
  laptop-2core-avx2   2 cores AVX2 FMA at 3 GHz, 3 MB cache, 34 GB/s
  igpu-uhd620         Intel UHD 620 class, fp16, 768 KB L3, 34 GB/s shared
Fields: name, description, macsPerCycle, clockGHz, onChipMB, dramGBps, weightBytes,
activationBytes, vectorFlopsPerCycle (optional). The model behind the estimates: docs/profile.md.

Writes FILE.json with FILE-stages.svg and FILE-roofline.svg beside it (--json), and always the same
three as the last profile in $SDLITE_CACHE/profile/, which the web UI of \`sdlite serve\` shows.

Examples:
  sdlite profile                                  SD1.5 at 512x512, 20 steps, CFG 7.5
  sdlite profile --fast --steps 4 --cfg 1 --hardware npu-8k-mac
  sdlite profile -m model.safetensors --size 768 --attention matmul --json prof.json
  sdlite profile --count-only --hardware laptop-2core-avx2 --hardware my-accelerator.json`;

export function registerProfileCommand(program: Command): void {
  program
    .command("profile")
    .description(
      "count and time each stage of one image per op kind: FLOPs, bytes, memory, roofline, what-if hardware",
    )
    .option(
      "-m, --model <model>",
      "checkpoint file, diffusers folder or Hugging Face repo id (default: SD1.5 shapes)",
    )
    .option("--size <px>", "image width and height", parseInteger, 512)
    .option("-W, --width <px>", "image width (overrides --size)", parseInteger)
    .option("-H, --height <px>", "image height (overrides --size)", parseInteger)
    .option("--steps <n>", "denoising steps (default: the model's, 20)", parseInteger)
    .option(
      "--cfg <scale>",
      "guidance scale; above 1 the UNet runs at batch 2 (default: the model's, 7.5)",
      parseNumber,
    )
    .option("--device <names>", 'execution provider(s) for the timed runs, e.g. "cpu" or "webgpu,cpu"')
    .option("--threads <n>", "threads per operator (default: physical cores)", parseInteger)
    .option(
      "--fast",
      "the speed preset: --quantize int8 --deep-cache 3 --decoder taesd --quantize-text-encoder int8 and ToDo 2 (explicit options win)",
    )
    .addOption(new Option("--quantize <kind>", "int8 UNet layers").choices(["none", "int8-linear", "int8"]))
    .addOption(
      new Option("--quantize-text-encoder <kind>", "int8 text encoder linears: none or int8").choices([
        "none",
        "int8",
      ]),
    )
    .option("--deep-cache <n>", "DeepCache interval (1 = off)", parseInteger)
    .addOption(new Option("--decoder <kind>", "decoder: vae or taesd").choices(["vae", "taesd"]))
    .option(
      "--taesd <path>",
      "TAESD weights (default with --decoder taesd: TAESD's shapes, synthetic weights)",
    )
    .addOption(
      new Option("--attention <kind>", "attention: mha (fused, default) or matmul").choices([
        "mha",
        "matmul",
      ]),
    )
    .option(
      "--tile <latents>",
      "decode in tiles above this many latents per side (default 64; 0 never)",
      parseInteger,
    )
    .addOption(
      new Option("--weight-storage <kind>", "built graphs' weights: auto, fp32 or fp16").choices([
        "auto",
        "fp32",
        "fp16",
      ]),
    )
    .option("--hardware <file|name>", "what-if estimate for this hardware; repeatable", collect, [])
    .option("--runs <n>", "timed calls per network after a warm-up", parseInteger, 1)
    .option("--count-only", "count from the graphs only: no timing, no machine measurement")
    .option("--json <file>", "write the whole profile as JSON, with its SVG charts beside it")
    .showHelpAfterError(false)
    .addHelpText("after", HELP)
    .action(async (options: ProfileOptions) => {
      const { runProfileCommand } = await import("../run-profile-command.js"); // loads onnxruntime only here
      await runProfileCommand(options);
    });
}
