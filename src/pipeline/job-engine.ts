/**
 * How a job's model is run, in JSON: the engine settings a GenerationJob carries, their checks, and
 * the one function that turns a job into openPipeline's EngineOptions (regrouping EngineOptions is
 * a change here and nowhere else). The speed preset is resolved here too, the same way for every
 * caller: explicit settings over the preset, TAESD decoding only where its weights are.
 */

import type { GraphCache } from "../cache/graph-cache.js";
import type {
  DecoderKind,
  EngineOptions,
  MemoryOptions,
  RuntimeOptions,
  SpeedOptions,
} from "../engine/engine-options.js";
import { type SpeedPresetName, withSpeedPreset } from "../engine/speed-preset.js";
import { WEIGHT_STORAGE_CHOICES } from "../engine/weight-storage-choice.js";
import { CONV_ALGORITHMS } from "../graph/conv-algorithm.js";
import { COMPUTE_PRECISIONS } from "../graph/float16-compute.js";
import type { AttentionKind } from "../graph/layers.js";
import { TAESD_QUANTIZATIONS } from "../graph/taesd-quantization.js";
import { TEXT_ENCODER_QUANTIZATIONS } from "../graph/text-encoder-quantization.js";
import { ATTENTION_QUANTIZATIONS, UNET_QUANTIZATIONS } from "../graph/unet-quantization.js";
import { VAE_QUANTIZATIONS } from "../graph/vae-quantization.js";
import type { Runtime } from "../runtime/runtime.js";
import type { GenerationJob } from "./generation-job.js";
import { InvalidRequestError } from "./request.js";

/** Where the networks run, as JSON: no backend object, the graph cache only switched off or on. */
export interface JobRuntime extends Pick<RuntimeOptions, "executionProviders" | "threads"> {
  /** false: build every graph in memory instead of the on-disk graph cache ($SDLITE_CACHE). */
  cache?: boolean;
}

/**
 * EngineOptions as JSON, in the same records (memory and speed are JSON already); the model's own
 * parts (VAE, variant, architecture overrides) are the job's `model`, its LoRAs the job's `loras`.
 */
export interface JobEngine {
  /** TAESD weights (folder or file): the fast decoder (speed.decoder "taesd"), and the server's live previews. */
  taesd?: string;
  runtime?: JobRuntime;
  memory?: MemoryOptions;
  speed?: SpeedOptions;
}

/** What a setting must be. */
type FieldCheck =
  | "strings"
  | "positive-int"
  | "non-negative-int"
  | "fraction"
  | "at-least-one"
  | "boolean"
  | readonly (string | number)[];
type Checks<T> = { readonly [K in keyof Required<T>]: FieldCheck };

/** Every field of every record; typed against the records, so a new engine option must be listed here. */
export const JOB_ENGINE_FIELDS: {
  readonly runtime: Checks<JobRuntime>;
  readonly memory: Checks<MemoryOptions>;
  readonly speed: Checks<SpeedOptions>;
} = {
  runtime: { executionProviders: "strings", threads: "positive-int", cache: "boolean" },
  memory: { lowMemory: "boolean", tileLatentSize: "non-negative-int", weightStorage: WEIGHT_STORAGE_CHOICES },
  speed: {
    attention: ["mha", "matmul"] satisfies AttentionKind[],
    deepCacheInterval: "positive-int",
    unetQuantization: UNET_QUANTIZATIONS,
    attentionQuantization: ATTENTION_QUANTIZATIONS,
    tomeRatio: "fraction",
    todoFactor: "at-least-one",
    todoMaxDepth: [1, 2],
    vaeQuantization: VAE_QUANTIZATIONS,
    textEncoderQuantization: TEXT_ENCODER_QUANTIZATIONS,
    taesdQuantization: TAESD_QUANTIZATIONS,
    decoder: ["vae", "taesd"] satisfies DecoderKind[],
    precision: COMPUTE_PRECISIONS,
    convAlgorithm: CONV_ALGORITHMS,
  },
};

function fits(check: FieldCheck, v: unknown): boolean {
  if (Array.isArray(check)) return check.includes(v);
  switch (check) {
    case "strings":
      return Array.isArray(v) && v.every((s) => typeof s === "string" && s !== "");
    case "positive-int":
      return Number.isSafeInteger(v) && (v as number) >= 1;
    case "non-negative-int":
      return Number.isSafeInteger(v) && (v as number) >= 0;
    case "fraction":
      return typeof v === "number" && v >= 0 && v < 1;
    case "at-least-one":
      return typeof v === "number" && Number.isFinite(v) && v >= 1;
    default:
      return typeof v === "boolean";
  }
}

function describeCheck(check: FieldCheck): string {
  if (Array.isArray(check)) return `one of ${check.map((c) => JSON.stringify(c)).join(", ")}`;
  const words: Record<string, string> = {
    strings: "a list of names",
    "positive-int": "an integer >= 1",
    "non-negative-int": "an integer >= 0",
    fraction: "a number in [0, 1)",
    "at-least-one": "a number >= 1",
    boolean: "true or false",
  };
  return words[check as string];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The settings checked field by field; an unknown field is refused, so a typo never runs the default. */
export function validateJobEngine(value: unknown): JobEngine {
  if (value === undefined) return {};
  if (!isObject(value)) throw new InvalidRequestError("job engine settings must be an object");
  const records = JOB_ENGINE_FIELDS as Readonly<Record<string, Readonly<Record<string, FieldCheck>>>>;
  for (const [name, record] of Object.entries(value)) {
    if (name === "taesd") {
      if (record !== undefined && (typeof record !== "string" || record === "")) {
        throw new InvalidRequestError("engine setting taesd must be a folder or file name");
      }
      continue;
    }
    const checks = records[name];
    if (!checks) {
      throw new InvalidRequestError(
        `unknown engine setting "${name}" (known: taesd, ${Object.keys(records).join(", ")})`,
      );
    }
    if (record === undefined) continue;
    if (!isObject(record)) throw new InvalidRequestError(`engine settings ${name} must be an object`);
    for (const [key, v] of Object.entries(record)) {
      const check = checks[key];
      if (!check) {
        throw new InvalidRequestError(
          `unknown engine setting "${name}.${key}" (known: ${Object.keys(checks).join(", ")})`,
        );
      }
      if (v !== undefined && !fits(check, v)) {
        throw new InvalidRequestError(
          `engine setting ${name}.${key} must be ${describeCheck(check)}, got ${JSON.stringify(v)}`,
        );
      }
    }
  }
  const engine = value as JobEngine;
  if (engine.speed?.decoder === "taesd" && engine.taesd === undefined) {
    throw new InvalidRequestError(
      'engine setting speed.decoder "taesd" needs TAESD weights (taesd: a folder or file)',
    );
  }
  return engine;
}

/** What only this process has: they never travel with a job. */
export interface LocalEngine {
  /** The inference engine; default onnxruntime-node. */
  readonly runtime?: Runtime;
  /** The UNet's runtime where it differs (EngineOptions' runtime.unetBackend: a worker thread's). */
  readonly unetRuntime?: Runtime;
  /** The graph cache to use (unless the job says cache: false); default one under $SDLITE_CACHE. */
  readonly graphCache?: GraphCache;
}

/** The part of a job that decides which pipeline is opened (a pool keeps one per such spec). */
export type PipelineSpec = Pick<GenerationJob, "model" | "loras" | "engine">;

/** The one place a job becomes openPipeline's options. */
export function engineOptionsForJob(spec: PipelineSpec, local: LocalEngine = {}): EngineOptions {
  const { cache, ...runtime } = spec.engine.runtime ?? {};
  return {
    loras: spec.loras.map(({ path, weight }) => ({ path, weight })),
    ...(spec.model.overrides ? { overrides: spec.model.overrides } : {}),
    ...(spec.model.vae ? { vae: spec.model.vae } : {}),
    ...(spec.model.variant ? { variant: spec.model.variant } : {}),
    ...(spec.engine.taesd ? { taesd: spec.engine.taesd } : {}),
    runtime: {
      ...runtime,
      ...(local.runtime ? { backend: local.runtime } : {}),
      ...(local.unetRuntime ? { unetBackend: local.unetRuntime } : {}),
      ...(cache === false ? { cache: false } : local.graphCache ? { cache: local.graphCache } : {}),
    },
    ...(spec.engine.memory ? { memory: spec.engine.memory } : {}),
    ...(spec.engine.speed ? { speed: spec.engine.speed } : {}),
  };
}

/**
 * One key per opened pipeline: the model file, LoRA set (in any order: the merge is a sum) and
 * engine settings; the display name and a known hash do not change what is opened.
 */
export function pipelineKey(spec: PipelineSpec): string {
  const { name: _name, hash: _hash, ...model } = spec.model;
  const loras = spec.loras
    .map((l) => [l.path, l.weight] as const)
    .sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1]);
  const sorted = (o: object) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify([sorted(model), loras, sorted(spec.engine)]);
}

export type SpeedSettings = Pick<JobEngine, "taesd" | "speed">;

/**
 * The speed settings of a job from a preset (`--fast`), the settings given explicitly (which win)
 * and the TAESD weights at hand: with weights TAESD decodes unless `decoder: "vae"` is asked for
 * (the weights then still serve live previews); without them the full VAE decodes whatever the
 * preset says. Settings left at their defaults stay unset.
 */
export function speedSettings(
  preset: SpeedPresetName | undefined,
  explicit: Pick<
    SpeedOptions,
    | "decoder"
    | "deepCacheInterval"
    | "unetQuantization"
    | "vaeQuantization"
    | "textEncoderQuantization"
    | "taesdQuantization"
    | "precision"
    | "attentionQuantization"
    | "tomeRatio"
    | "todoFactor"
    | "todoMaxDepth"
    | "convAlgorithm"
  >,
  taesd: string | undefined,
): SpeedSettings {
  const speed = withSpeedPreset(preset, {
    unetQuantization: explicit.unetQuantization,
    deepCacheInterval: explicit.deepCacheInterval,
    decoder: explicit.decoder ?? (taesd ? "taesd" : undefined),
    // ToMe and ToDo both reshape the self-attention: an explicit ToMe turns the preset's ToDo off
    todoFactor: explicit.todoFactor ?? (explicit.tomeRatio ? 1 : undefined),
    textEncoderQuantization: explicit.textEncoderQuantization,
  });
  return {
    ...(taesd ? { taesd } : {}),
    speed: {
      ...(speed.unetQuantization ? { unetQuantization: speed.unetQuantization } : {}),
      ...(speed.deepCacheInterval ? { deepCacheInterval: speed.deepCacheInterval } : {}),
      // no preset sets these: only asked for explicitly, and "none" stays unset like a default
      ...(explicit.attentionQuantization && explicit.attentionQuantization !== "none"
        ? { attentionQuantization: explicit.attentionQuantization }
        : {}),
      ...(explicit.tomeRatio ? { tomeRatio: explicit.tomeRatio } : {}),
      // the preset's or the explicit factor; 1 is off and stays unset, and the depth only means
      // something with a factor
      ...(speed.todoFactor && speed.todoFactor > 1
        ? {
            todoFactor: speed.todoFactor,
            ...(explicit.todoMaxDepth && explicit.todoMaxDepth !== 1
              ? { todoMaxDepth: explicit.todoMaxDepth }
              : {}),
          }
        : {}),
      ...(explicit.convAlgorithm ? { convAlgorithm: explicit.convAlgorithm } : {}),
      ...(explicit.vaeQuantization && explicit.vaeQuantization !== "none"
        ? { vaeQuantization: explicit.vaeQuantization }
        : {}),
      // the preset's or the explicit one; "none" stays unset
      ...(speed.textEncoderQuantization && speed.textEncoderQuantization !== "none"
        ? { textEncoderQuantization: speed.textEncoderQuantization }
        : {}),
      // TAESD's own: set only with TAESD weights at hand (decoding or previews)
      ...(taesd && explicit.taesdQuantization && explicit.taesdQuantization !== "none"
        ? { taesdQuantization: explicit.taesdQuantization }
        : {}),
      ...(taesd ? { decoder: speed.decoder ?? "taesd" } : {}),
      // unset: the provider's choice (fp16 on WebGPU with f16 shaders)
      ...(explicit.precision ? { precision: explicit.precision } : {}),
    },
  };
}
