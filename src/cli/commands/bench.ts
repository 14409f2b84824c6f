/**
 * `sdlite bench`: times each stage (text encoder, UNet step at batch 1 and 2, VAE and TAESD decode,
 * a whole image, start-up with a cold and a warm graph cache) in its own process, prints a Markdown
 * table and optionally writes every number as JSON. Without --model it generates a full-size
 * random-weight SD1.5 checkpoint and TAESD under the bench folder. The whole image runs LCM, 4 steps
 * without CFG, or an SD-Turbo model's own 1-step Euler, unless told otherwise.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { type BaselineSpec, parseBaseline } from "../../bench/baselines.js";
import type { BenchDevice } from "../../bench/bench-device.js";
import { ensureRandomModels } from "../../bench/bench-models.js";
import { benchMarkdown } from "../../bench/bench-report.js";
import {
  KNOWN_ENGINE_OPTIONS,
  type OptionSet,
  type OptionValue,
  optionSetLabel,
  parseOption,
  parseOptionList,
  unknownOptions,
} from "../../bench/option-set.js";
import { type BenchEvent, type BenchPlan, runBench } from "../../bench/run-bench.js";
import { type ImageSettings, STAGE_TITLES, STAGES, type StageName } from "../../bench/stage-job.js";
import { formatSeconds } from "../../bench/units.js";
import { defaultsForModel, GENERIC_DEFAULTS, SD_TURBO_DEFAULTS } from "../../pipeline/model-defaults.js";
import { DEVICE_NAMES, type DeviceName } from "../device-names.js";

interface BenchFlags {
  model?: string;
  taesd?: string;
  size: number;
  runs: number;
  imageRuns?: number;
  steps?: number;
  guidance?: number;
  sampler?: string;
  seed: number;
  prompt: string;
  threads?: number;
  json?: string;
  stages: StageName[];
  lowMemory?: boolean;
  decoder?: string;
  attention?: string;
  device?: DeviceName;
  option: [string, OptionValue][];
  set: Record<string, OptionValue>[];
  compareQuality?: boolean;
  baseline: BaselineSpec[];
  sdcppSteps: number;
  benchDir: string;
}

function integer(min: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}

function nonNegative(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("expected a number >= 0");
  return n;
}

function stageList(text: string): StageName[] {
  const names = text.split(",").map((s) => s.trim());
  for (const n of names) {
    if (!(STAGES as readonly string[]).includes(n))
      throw new InvalidArgumentError(`unknown stage "${n}" (stages: ${STAGES.join(", ")})`);
  }
  return STAGES.filter((s) => names.includes(s));
}

function wrapped<T>(parse: (text: string) => T) {
  return (text: string): T => {
    try {
      return parse(text);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

function optionSets(flags: BenchFlags): OptionSet[] {
  const base: Record<string, OptionValue> = {};
  if (flags.lowMemory) base.lowMemory = true;
  if (flags.decoder) base.decoder = flags.decoder;
  if (flags.attention) base.attention = flags.attention;
  for (const [k, v] of flags.option) base[k] = v;
  const sets = [base, ...flags.set.map((extra) => ({ ...base, ...extra }))];
  const seen = new Set<string>();
  return sets.filter((s) => {
    const label = optionSetLabel(s);
    if (seen.has(label)) return false;
    seen.add(label);
    return true;
  });
}

/** JSON has no Infinity: an identical image's PSNR is written as the string "Infinity". */
function finiteJson(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isFinite(value) ? String(value) : value;
}

function describe(event: BenchEvent): string {
  if (event.type === "baseline") return `[${event.label}] ${event.message}`;
  const where = `[${event.set}] ${STAGE_TITLES[event.stage]}`;
  switch (event.type) {
    case "stage": {
      const variant = {
        timed: "",
        cold: " (cold cache)",
        warm: " (warm cache)",
        quality: " (image for the quality comparison)",
      };
      return `${where}${variant[event.variant]}…`;
    }
    case "skipped":
      return `${where}: skipped, ${event.reason}`;
    case "progress": {
      const p = event.progress;
      return `${where}: ${p.run === 0 ? "first run" : `run ${p.run}/${p.runs}`} ${formatSeconds(p.ms)}`;
    }
  }
}

/** The default model's few-step settings: LCM, 4 steps, no CFG (one UNet call per step). */
const LCM_IMAGE = { sampler: "LCM", steps: 4, guidance: 1 };

/** The whole image's settings: as given, else SD-Turbo's own for a Turbo model, else LCM's. */
function imageSettings(flags: BenchFlags, modelPath: string): ImageSettings {
  const model = defaultsForModel(modelPath, GENERIC_DEFAULTS);
  const few =
    model === SD_TURBO_DEFAULTS
      ? { sampler: model.sampler, steps: model.steps, guidance: model.cfg }
      : LCM_IMAGE;
  return {
    prompt: flags.prompt,
    sampler: flags.sampler ?? few.sampler,
    steps: flags.steps ?? few.steps,
    guidance: flags.guidance ?? few.guidance,
    seed: flags.seed,
  };
}

export function registerBenchCommand(program: Command): void {
  const collect =
    <T>(parse: (text: string) => T) =>
    (text: string, previous: T[]) => [...previous, wrapped(parse)(text)];
  program
    .command("bench")
    .description("time each stage and a whole image; print a Markdown table (and JSON with --json)")
    .option("-m, --model <path>", "model to benchmark (default: a generated full-size random-weight SD1.5)")
    .option("--taesd <path>", "TAESD weights for the TAESD stage (generated with the random model)")
    .option("--size <px>", "image side in pixels", integer(8), 512)
    .option("--runs <n>", "timed runs per stage, after one warm-up run", integer(1), 3)
    .option("--image-runs <n>", "timed runs of the whole-image stage (default: --runs)", integer(0))
    .option("--steps <n>", "denoising steps of the whole image (default 4; SD-Turbo: 1)", integer(1))
    .option(
      "--guidance <scale>",
      "CFG scale of the whole image (<= 1: no CFG, UNet at batch 1; default 1)",
      nonNegative,
    )
    .option("--sampler <name>", "sampler of the whole image (default LCM; SD-Turbo: Euler)")
    .option("--seed <n>", "seed of every random input and of the image", integer(0), 42)
    .option(
      "--prompt <text>",
      "prompt of the text encoder and image stages",
      "a photograph of an astronaut riding a horse",
    )
    .option("--threads <n>", "threads per operator (default: onnxruntime's, the physical cores)", integer(1))
    .option("--json <file>", "also write every number as JSON")
    .addOption(
      new Option("--stages <list>", "comma-separated, any of them")
        .argParser(wrapped(stageList))
        .default([...STAGES], STAGES.join(",")),
    )
    .option("--low-memory", "engine option lowMemory=true")
    .option("--decoder <kind>", "engine option decoder: vae or taesd")
    .option("--attention <kind>", "engine option attention: mha or matmul")
    .addOption(
      new Option(
        "--option <key=value>",
        "any EngineOptions field, whichever record it is in (repeatable), e.g. deepCacheInterval=3, unetQuantization=int8, tileLatentSize=0",
      )
        .argParser(collect(parseOption))
        .default([], "none"),
    )
    .addOption(
      new Option(
        "--set <key=value,...>",
        "another option set to benchmark after the first (repeatable), e.g. --set attention=matmul",
      )
        .argParser(collect(parseOptionList))
        .default([], "none"),
    )
    .option(
      "--compare-quality",
      "PSNR and max difference of each option set's image vs the default options' image",
    )
    .addOption(
      new Option(
        "--baseline <name[=path]>",
        "also time a baseline on the UNet steps and VAE decode, in the same table with speed-ups (repeatable): " +
          "ort-plain (an emulated plain torch.onnx export on onnxruntime), sdcpp[=DIR] (stable-diffusion.cpp; " +
          "set up by scripts/sdcpp-baseline/setup.sh, default DIR <bench-dir>/baselines/sdcpp)",
      )
        .argParser(collect(parseBaseline))
        .default([], "none"),
    )
    .addOption(
      new Option(
        "--device <name>",
        "also time every stage on this device, as one more option set beside the CPU's: webgpu (an error if no adapter works), auto (WebGPU on a GPU if usable), dml/coreml where bundled; cpu: the CPU only (default)",
      ).choices([...DEVICE_NAMES]),
    )
    .option("--sdcpp-steps <n>", "denoising steps of each stable-diffusion.cpp call", integer(1), 2)
    .option("--bench-dir <dir>", "generated models, graph cache and images", ".bench")
    .action(async (flags: BenchFlags) => {
      // before anything is generated or run: a typo must not cost a model build
      const sets = optionSets(flags);
      for (const s of sets) {
        const unknown = unknownOptions(s);
        if (unknown.length > 0)
          throw new Error(
            `"${unknown[0]}" is not an engine option (options: ${KNOWN_ENGINE_OPTIONS.join(", ")})`,
          );
      }
      const log = (line: string) => process.stderr.write(`${line}\n`);
      let device: BenchDevice | undefined;
      if (flags.device !== undefined && flags.device !== "cpu") {
        // the GPU as one more option set, the first set on the GPU: its stages in the same table as the CPU's
        const { chooseDevice, describeDevice } = await import("../device-choice.js");
        const choice = await chooseDevice(flags.device);
        log(describeDevice(choice));
        device = {
          requested: choice.requested,
          used: choice.device,
          executionProviders: choice.executionProviders,
          ...(choice.adapter ? { adapter: choice.adapter } : {}),
          ...(choice.fallback ? { fallback: choice.fallback } : {}),
        };
        if (choice.device !== "cpu") {
          const providers = choice.executionProviders.join("+");
          sets.push({ ...sets[0], executionProviders: providers });
        }
      }
      const benchDir = resolve(flags.benchDir);
      mkdirSync(benchDir, { recursive: true });
      let modelPath = flags.model;
      let taesdPath = flags.taesd;
      if (!modelPath) {
        log(`random-weight SD1.5 model and TAESD under ${benchDir} (generated on first use)`);
        const models = ensureRandomModels(benchDir);
        for (const g of models.generated) log(`generated ${g}`);
        modelPath = models.modelPath;
        taesdPath ??= models.taesdPath;
      }
      const image = imageSettings(flags, modelPath);
      const plan: BenchPlan = {
        benchDir,
        modelPath: resolve(modelPath),
        taesdPath: taesdPath && resolve(taesdPath),
        sets,
        stages: flags.stages,
        size: flags.size,
        runs: flags.runs,
        imageRuns: flags.imageRuns ?? flags.runs,
        threads: flags.threads,
        image,
        compareQuality: flags.compareQuality ?? false,
        // one of each: a later --baseline of the same name replaces an earlier one
        baselines: [...new Map(flags.baseline.map((b) => [b.name, b])).values()],
        sdcppSteps: flags.sdcppSteps,
        ...(device ? { device } : {}),
      };
      const result = await runBench(plan, (e) => log(describe(e)));
      process.stdout.write(benchMarkdown(result));
      if (flags.json) {
        writeFileSync(
          flags.json,
          `${JSON.stringify({ command: process.argv.slice(2), ...result }, finiteJson, 2)}\n`,
        );
        log(`wrote ${flags.json}`);
      }
    });
}
