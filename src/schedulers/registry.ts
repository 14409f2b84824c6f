/**
 * Sampler names -> schedulers. Accepts the four spellings users bring (ECOSYSTEM 1.4), all
 * case-insensitive: AUTOMATIC1111 labels ("DPM++ 2M Karras", or "DPM++ 2M" with the separate
 * Schedule type "Karras"), diffusers class names ("DPMSolverMultistepScheduler"), k-diffusion /
 * A1111 aliases ("k_dpmpp_2m_ka") and ComfyUI / sd.cpp names ("dpmpp_2m", "dpm++2m").
 * Metadata always gets the canonical A1111 label.
 *
 * To add a family: import its factory and append one entry to SAMPLERS.
 */
import { DdimScheduler } from "./ddim.js";
import { DpmSolverMultistepScheduler } from "./dpm-solver-multistep.js";
import { EulerAncestralScheduler } from "./euler-ancestral.js";
import { EulerDiscreteScheduler } from "./euler-discrete.js";
import { HeunDiscreteScheduler } from "./heun-discrete.js";
import { LCMScheduler } from "./lcm.js";
import { LmsDiscreteScheduler } from "./lms-discrete.js";
import { PndmScheduler } from "./pndm.js";
import { TCDScheduler } from "./tcd.js";
import type { Scheduler, SchedulerConfig, SchedulerFactory } from "./types.js";
import { UniPCMultistepScheduler } from "./unipc-multistep.js";

// the img2img start point belongs with the scheduler a pipeline gets from here
export { checkStrength, type Img2ImgStart, img2imgStart, img2imgStartIndex } from "./img2img.js";

export interface SamplerEntry {
  /** The AUTOMATIC1111 label, without a schedule suffix ("Euler a", "DPM++ 2M"). */
  label: string;
  /** The diffusers class that implements it. */
  diffusersClass: string;
  /** Other spellings: k-diffusion/A1111 aliases, ComfyUI and sd.cpp names, diffusers class names. */
  aliases: readonly string[];
  /** Whether the Karras sigma schedule (use_karras_sigmas) applies to this sampler. */
  karras: boolean;
  /** Family options merged into config.extra before `create` (e.g. the DPM++ algorithm_type). */
  extra?: Record<string, unknown>;
  create: SchedulerFactory;
}

export const SAMPLERS: SamplerEntry[] = [
  {
    label: "Euler a",
    diffusersClass: "EulerAncestralDiscreteScheduler",
    aliases: [
      "k_euler_a",
      "k_euler_ancestral",
      "euler_ancestral",
      "euler_a",
      "EulerAncestralDiscreteScheduler",
    ],
    karras: false,
    create: (config, steps) => new EulerAncestralScheduler(config, steps),
  },
  {
    label: "Euler",
    diffusersClass: "EulerDiscreteScheduler",
    aliases: ["k_euler", "euler", "EulerDiscreteScheduler"],
    karras: true,
    create: (config, steps) => new EulerDiscreteScheduler(config, steps),
  },
  {
    label: "LMS",
    diffusersClass: "LMSDiscreteScheduler",
    aliases: ["k_lms", "lms", "LMSDiscreteScheduler"],
    karras: true,
    create: (config, steps) => new LmsDiscreteScheduler(config, steps),
  },
  {
    label: "Heun",
    diffusersClass: "HeunDiscreteScheduler",
    aliases: ["k_heun", "heun", "HeunDiscreteScheduler"],
    karras: true,
    create: (config, steps) => new HeunDiscreteScheduler(config, steps),
  },
  {
    label: "DPM++ 2M",
    diffusersClass: "DPMSolverMultistepScheduler",
    aliases: ["k_dpmpp_2m", "dpmpp_2m", "dpm++2m", "DPMSolverMultistepScheduler"],
    karras: true,
    extra: { algorithm_type: "dpmsolver++" },
    create: (config, steps) => new DpmSolverMultistepScheduler(config, steps),
  },
  {
    label: "DPM++ 2M SDE",
    diffusersClass: "DPMSolverMultistepScheduler",
    aliases: ["k_dpmpp_2m_sde", "dpmpp_2m_sde"],
    karras: true,
    extra: { algorithm_type: "sde-dpmsolver++" },
    create: (config, steps) => new DpmSolverMultistepScheduler(config, steps),
  },
  {
    label: "DDIM",
    diffusersClass: "DDIMScheduler",
    aliases: ["ddim", "DDIMScheduler"],
    karras: false,
    create: (config, steps) => new DdimScheduler(config, steps),
  },
  {
    label: "PLMS",
    diffusersClass: "PNDMScheduler",
    aliases: ["plms", "pndm", "PNDMScheduler"],
    karras: false,
    create: (config, steps) => new PndmScheduler(config, steps),
  },
  {
    label: "UniPC",
    diffusersClass: "UniPCMultistepScheduler",
    aliases: ["unipc", "uni_pc", "uni_pc_bh2", "UniPCMultistepScheduler"],
    karras: false,
    create: (config, steps) => new UniPCMultistepScheduler(config, steps),
  },
  {
    label: "LCM",
    diffusersClass: "LCMScheduler",
    aliases: ["k_lcm", "lcm", "LCMScheduler"],
    karras: false,
    create: (config, steps) => new LCMScheduler(config, steps),
  },
  {
    label: "TCD",
    diffusersClass: "TCDScheduler",
    aliases: ["tcd", "TCDScheduler"],
    karras: false,
    create: (config, steps) => new TCDScheduler(config, steps),
  },
];

export interface SamplerOptions {
  /** A1111's separate "Schedule type": "Automatic"/"Uniform" (the sampler's own) or "Karras". */
  scheduleType?: string;
  /** DDIM/TCD eta (stored as config.extra.eta). */
  eta?: number;
}

export interface ResolvedSampler {
  entry: SamplerEntry;
  karras: boolean;
  /** A1111 sampler label, e.g. "DPM++ 2M". */
  sampler: string;
  /** A1111 "Schedule type" for infotexts: "Karras" or "Automatic". */
  scheduleType: "Karras" | "Automatic";
  /** The old single-label form, e.g. "DPM++ 2M Karras". */
  label: string;
}

/** Lower case without spaces, underscores or hyphens: "DPM++ 2M" and "dpm++_2m" meet. */
function compact(name: string): string {
  return name.toLowerCase().replace(/[\s_-]+/g, "");
}

const KARRAS_SUFFIX = /(?:[\s_-]+karras|_ka)$/i;
const K_DIFFUSION_PREFIX = /^k_/i;
const AUTOMATIC_SCHEDULES = new Set(["", "automatic", "uniform", "default", "normal", "discrete"]);

function lookupTable(): Map<string, SamplerEntry> {
  const table = new Map<string, SamplerEntry>();
  for (const entry of SAMPLERS) {
    for (const name of [entry.label, ...entry.aliases]) {
      for (const spelling of [name, name.replace(K_DIFFUSION_PREFIX, "")]) {
        const key = compact(spelling);
        if (!table.has(key)) table.set(key, entry);
      }
    }
  }
  return table;
}

/** The valid sampler names, for error messages: A1111 labels plus their Karras forms. */
function validChoices(): string {
  return SAMPLERS.flatMap((e) => (e.karras ? [e.label, `${e.label} Karras`] : [e.label])).join(", ");
}

/** Resolves any accepted spelling of a sampler (and an optional A1111 Schedule type). */
export function resolveSampler(name: string, options: SamplerOptions = {}): ResolvedSampler {
  const table = lookupTable();
  const trimmed = name.trim();
  let karras = false;
  let entry = table.get(compact(trimmed)) ?? table.get(compact(trimmed.replace(K_DIFFUSION_PREFIX, "")));
  if (!entry && KARRAS_SUFFIX.test(trimmed)) {
    const base = trimmed.replace(KARRAS_SUFFIX, "");
    entry = table.get(compact(base)) ?? table.get(compact(base.replace(K_DIFFUSION_PREFIX, "")));
    karras = entry !== undefined;
  }
  if (!entry) {
    throw new Error(`unknown sampler "${name}"; valid choices: ${validChoices()}`);
  }
  const schedule = compact(options.scheduleType ?? "");
  if (schedule === "karras") karras = true;
  else if (!AUTOMATIC_SCHEDULES.has(schedule)) {
    throw new Error(`unsupported schedule type "${options.scheduleType}"; valid choices: Automatic, Karras`);
  }
  if (karras && !entry.karras) {
    throw new Error(
      `sampler "${entry.label}" has no Karras schedule; samplers with one: ${SAMPLERS.filter((e) => e.karras)
        .map((e) => e.label)
        .join(", ")}`,
    );
  }
  return {
    entry,
    karras,
    sampler: entry.label,
    scheduleType: karras ? "Karras" : "Automatic",
    label: karras ? `${entry.label} Karras` : entry.label,
  };
}

/** The canonical A1111 label for metadata ("DPM++ 2M Karras" for "k_dpmpp_2m_ka"). */
export function canonicalSamplerLabel(name: string, options: SamplerOptions = {}): string {
  return resolveSampler(name, options).label;
}

/**
 * A fresh Scheduler for one run: `name` in any accepted spelling, `baseConfig` the model's parsed
 * scheduler_config.json, `steps` the inference steps (a positive integer).
 */
export function createScheduler(
  name: string,
  baseConfig: SchedulerConfig,
  steps: number,
  options: SamplerOptions = {},
): Scheduler {
  if (!Number.isInteger(steps) || steps < 1) {
    throw new Error(`steps must be a positive integer, got ${steps}`);
  }
  const resolved = resolveSampler(name, options);
  const extra: Record<string, unknown> = { ...baseConfig.extra, ...resolved.entry.extra };
  if (options.eta !== undefined) extra.eta = options.eta;
  const config: SchedulerConfig = {
    ...baseConfig,
    useKarrasSigmas: resolved.karras,
    extra,
  };
  return resolved.entry.create(config, steps);
}

export interface SamplerInfo {
  /** A1111 label. */
  name: string;
  aliases: string[];
  /** Whether "Karras" may be chosen as the Schedule type (or appended to the name). */
  karras: boolean;
}

/** Every sampler with its aliases, in A1111's order (for a /samplers endpoint). */
export function listSamplers(): SamplerInfo[] {
  return SAMPLERS.map((e) => ({ name: e.label, aliases: [...e.aliases], karras: e.karras }));
}
