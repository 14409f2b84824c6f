/**
 * Sampler names -> schedulers. Accepts the four spellings users bring (ECOSYSTEM 1.4), all
 * case-insensitive: AUTOMATIC1111 labels ("DPM++ 2M", with a separate Schedule type such as
 * "Karras", or the old folded form "DPM++ 2M Karras"), diffusers class names
 * ("DPMSolverMultistepScheduler"), k-diffusion / A1111 aliases ("k_dpmpp_2m_ka") and ComfyUI /
 * sd.cpp names ("dpmpp_2m", "dpm++2m"). Metadata always gets the canonical A1111 label.
 * The schedule (sigma-schedules.ts) is chosen apart from the sampler; σ-based families take any.
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
import {
  AUTOMATIC_SCHEDULE,
  compactName,
  resolveSchedule,
  type ScheduleEntry,
  scheduleSpellings,
} from "./sigma-schedules.js";
import { TCDScheduler } from "./tcd.js";
import type { Scheduler, SchedulerConfig, SchedulerFactory, TimestepSpacing } from "./types.js";
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
  /**
   * Whether a schedule other than Automatic applies: the σ-based families take any σ list; the
   * timestep-based ones (DDIM, PLMS, UniPC, LCM, TCD) step through their own timesteps.
   */
  schedules: boolean;
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
    schedules: true,
    create: (config, steps) => new EulerAncestralScheduler(config, steps),
  },
  {
    label: "Euler",
    diffusersClass: "EulerDiscreteScheduler",
    aliases: ["k_euler", "euler", "EulerDiscreteScheduler"],
    schedules: true,
    create: (config, steps) => new EulerDiscreteScheduler(config, steps),
  },
  {
    label: "LMS",
    diffusersClass: "LMSDiscreteScheduler",
    aliases: ["k_lms", "lms", "LMSDiscreteScheduler"],
    schedules: true,
    create: (config, steps) => new LmsDiscreteScheduler(config, steps),
  },
  {
    label: "Heun",
    diffusersClass: "HeunDiscreteScheduler",
    aliases: ["k_heun", "heun", "HeunDiscreteScheduler"],
    schedules: true,
    create: (config, steps) => new HeunDiscreteScheduler(config, steps),
  },
  {
    label: "DPM++ 2M",
    diffusersClass: "DPMSolverMultistepScheduler",
    aliases: ["k_dpmpp_2m", "dpmpp_2m", "dpm++2m", "DPMSolverMultistepScheduler"],
    schedules: true,
    extra: { algorithm_type: "dpmsolver++" },
    create: (config, steps) => new DpmSolverMultistepScheduler(config, steps),
  },
  {
    label: "DPM++ 2M SDE",
    diffusersClass: "DPMSolverMultistepScheduler",
    aliases: ["k_dpmpp_2m_sde", "dpmpp_2m_sde"],
    schedules: true,
    extra: { algorithm_type: "sde-dpmsolver++" },
    create: (config, steps) => new DpmSolverMultistepScheduler(config, steps),
  },
  {
    label: "DDIM",
    diffusersClass: "DDIMScheduler",
    aliases: ["ddim", "DDIMScheduler"],
    schedules: false,
    create: (config, steps) => new DdimScheduler(config, steps),
  },
  {
    label: "PLMS",
    diffusersClass: "PNDMScheduler",
    aliases: ["plms", "pndm", "PNDMScheduler"],
    schedules: false,
    create: (config, steps) => new PndmScheduler(config, steps),
  },
  {
    label: "UniPC",
    diffusersClass: "UniPCMultistepScheduler",
    aliases: ["unipc", "uni_pc", "uni_pc_bh2", "UniPCMultistepScheduler"],
    schedules: false,
    create: (config, steps) => new UniPCMultistepScheduler(config, steps),
  },
  {
    label: "LCM",
    diffusersClass: "LCMScheduler",
    aliases: ["k_lcm", "lcm", "LCMScheduler"],
    schedules: false,
    create: (config, steps) => new LCMScheduler(config, steps),
  },
  {
    label: "TCD",
    diffusersClass: "TCDScheduler",
    aliases: ["tcd", "TCDScheduler"],
    schedules: false,
    create: (config, steps) => new TCDScheduler(config, steps),
  },
];

export interface SamplerOptions {
  /**
   * A1111's separate "Schedule type" (name, label or alias of sigma-schedules.ts, any case);
   * absent, "" or "Automatic": the schedule folded into the sampler name, else the sampler's own.
   */
  scheduleType?: string;
  /** DDIM/TCD eta (stored as config.extra.eta). */
  eta?: number;
  /** Replaces the model's timestep_spacing (diffusers' option; Hyper-SD and Turbo want "trailing"). */
  timestepSpacing?: TimestepSpacing;
}

export interface ResolvedSampler {
  entry: SamplerEntry;
  schedule: ScheduleEntry;
  /** The schedule is Karras. */
  karras: boolean;
  /** A1111 sampler label, e.g. "DPM++ 2M". */
  sampler: string;
  /** A1111 "Schedule type" label for infotexts: "Automatic", "Karras", "SGM Uniform", ... */
  scheduleType: string;
  /** The old single-label form, e.g. "DPM++ 2M Karras" ("DPM++ 2M" for Automatic). */
  label: string;
}

const K_DIFFUSION_PREFIX = /^k_/i;
/** k-diffusion's "_ka" alias suffix (k_dpmpp_2m_ka): Karras. */
const KA_SUFFIX = /_ka$/i;

function lookupTable(): Map<string, SamplerEntry> {
  const table = new Map<string, SamplerEntry>();
  for (const entry of SAMPLERS) {
    for (const name of [entry.label, ...entry.aliases]) {
      for (const spelling of [name, name.replace(K_DIFFUSION_PREFIX, "")]) {
        const key = compactName(spelling);
        if (!table.has(key)) table.set(key, entry);
      }
    }
  }
  return table;
}

function findSampler(table: Map<string, SamplerEntry>, name: string): SamplerEntry | undefined {
  return table.get(compactName(name)) ?? table.get(compactName(name.replace(K_DIFFUSION_PREFIX, "")));
}

/**
 * A sampler name, whole or with a schedule folded in at its end as A1111 before 1.9 wrote it
 * ("DPM++ 2M Karras", "Euler a Exponential", "euler_sgm_uniform", "k_dpmpp_2m_ka").
 */
function splitSamplerName(name: string): { entry: SamplerEntry; schedule?: ScheduleEntry } | undefined {
  const table = lookupTable();
  const whole = findSampler(table, name);
  if (whole) return { entry: whole };
  if (KA_SUFFIX.test(name)) {
    const entry = findSampler(table, name.replace(KA_SUFFIX, ""));
    if (entry) return { entry, schedule: resolveSchedule("karras") };
  }
  const key = compactName(name);
  for (const { spelling, entry: schedule } of scheduleSpellings()) {
    if (schedule === AUTOMATIC_SCHEDULE || key.length <= spelling.length || !key.endsWith(spelling)) continue;
    const entry = findSampler(table, key.slice(0, -spelling.length));
    if (entry) return { entry, schedule };
  }
  return undefined;
}

/** The valid sampler names, for error messages: schedule takers first, with folded examples. */
function validChoices(): string {
  const taking = SAMPLERS.filter((e) => e.schedules).map((e) => e.label);
  const others = SAMPLERS.filter((e) => !e.schedules).map((e) => e.label);
  return `${taking.join(", ")} (these also with a schedule type, e.g. "Euler Karras", "DPM++ 2M Karras", "Euler a Exponential"), ${others.join(", ")}`;
}

/** Resolves any accepted spelling of a sampler (and an optional A1111 Schedule type). */
export function resolveSampler(name: string, options: SamplerOptions = {}): ResolvedSampler {
  const split = splitSamplerName(name.trim());
  if (!split) {
    throw new Error(`unknown sampler "${name}"; valid choices: ${validChoices()}`);
  }
  const { entry } = split;
  const field = resolveSchedule(options.scheduleType ?? "");
  let schedule = split.schedule ?? field;
  if (split.schedule && field !== AUTOMATIC_SCHEDULE && field !== split.schedule) {
    throw new Error(
      `sampler "${name}" names the ${split.schedule.label} schedule but the schedule type is ${field.label}; give one of them`,
    );
  }
  if (schedule !== AUTOMATIC_SCHEDULE && !entry.schedules) {
    throw new Error(
      `sampler "${entry.label}" has no ${schedule.label} schedule: it steps through its own timesteps, so only Automatic applies; samplers that take a schedule type: ${SAMPLERS.filter(
        (e) => e.schedules,
      )
        .map((e) => e.label)
        .join(", ")}`,
    );
  }
  schedule ??= AUTOMATIC_SCHEDULE;
  const automatic = schedule === AUTOMATIC_SCHEDULE;
  return {
    entry,
    schedule,
    karras: schedule.name === "karras",
    sampler: entry.label,
    scheduleType: schedule.label,
    label: automatic ? entry.label : `${entry.label} ${schedule.label}`,
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
    sigmaSchedule: resolved.schedule.sigmas,
    extra,
    ...(options.timestepSpacing !== undefined ? { timestepSpacing: options.timestepSpacing } : {}),
  };
  return resolved.entry.create(config, steps);
}

export interface SamplerInfo {
  /** A1111 label. */
  name: string;
  aliases: string[];
  /** Whether a Schedule type other than Automatic may be chosen (or appended to the name). */
  schedules: boolean;
  /** Whether "Karras" may be chosen: the same as `schedules` (kept for callers of the Karras-only API). */
  karras: boolean;
}

/** Every sampler with its aliases, in A1111's order (for a /samplers endpoint). */
export function listSamplers(): SamplerInfo[] {
  return SAMPLERS.map((e) => ({
    name: e.label,
    aliases: [...e.aliases],
    schedules: e.schedules,
    karras: e.schedules,
  }));
}
