/**
 * Schedules (A1111 "Schedule type"; sd.cpp and ComfyUI "scheduler"): the σ list a sampler walks,
 * chosen apart from the sampler. A σ-based sampler family (the Euler family, DPM++) asks its entry
 * for σ and derives its timesteps itself; Automatic has no σ function and leaves the family's own
 * diffusers schedule in place. The names are schedule-types.ts'; the formulas schedule-formulas.ts'.
 *
 * To add a schedule: its formula in schedule-formulas.ts, its type in SCHEDULE_TYPES, its σ here.
 */
import {
  alignYourStepsSchedule,
  betaSchedule,
  ddimSchedule,
  exponentialSchedule,
  karrasSchedule,
  klOptimalSchedule,
  normalSchedule,
  polyexponentialSchedule,
  simpleSchedule,
  uniformSchedule,
} from "./schedule-formulas.js";
import { SCHEDULE_TYPES, type ScheduleType, scheduleTypeNames } from "./schedule-types.js";
import type { SchedulerConfig, SigmaSchedule } from "./types.js";

export interface ScheduleEntry extends ScheduleType {
  /** undefined for Automatic: the sampler's own diffusers schedule. */
  readonly sigmas?: SigmaSchedule;
}

/** The σ of every schedule type but Automatic, by A1111 name. */
const SIGMAS: Record<string, SigmaSchedule> = {
  uniform: (c) => uniformSchedule(c.steps, c.trainingSigmas),
  karras: (c) => karrasSchedule(c.steps, c.sigmaMin, c.sigmaMax),
  exponential: (c) => exponentialSchedule(c.steps, c.sigmaMin, c.sigmaMax),
  polyexponential: (c) => polyexponentialSchedule(c.steps, c.sigmaMin, c.sigmaMax),
  sgm_uniform: (c) => normalSchedule(c.steps, c.sigmaMin, c.sigmaMax, c.trainingSigmas, true),
  kl_optimal: (c) => klOptimalSchedule(c.steps, c.sigmaMin, c.sigmaMax),
  align_your_steps: (c) => alignYourStepsSchedule(c.steps),
  simple: (c) => simpleSchedule(c.steps, c.trainingSigmas),
  normal: (c) => normalSchedule(c.steps, c.sigmaMin, c.sigmaMax, c.trainingSigmas),
  ddim: (c) => ddimSchedule(c.steps, c.trainingSigmas),
  beta: (c) => betaSchedule(c.steps, c.sigmaMin, c.sigmaMax),
};

export const SCHEDULES: readonly ScheduleEntry[] = SCHEDULE_TYPES.map((t) => ({
  ...t,
  sigmas: SIGMAS[t.name],
}));

export const AUTOMATIC_SCHEDULE = SCHEDULES[0];

/** Lower case without spaces, underscores or hyphens: "SGM Uniform" and "sgm_uniform" meet. */
export function compactName(name: string): string {
  return name.toLowerCase().replace(/[\s_-]+/g, "");
}

/** Every spelling of every schedule, compacted, longest first (so "polyexponential" beats "exponential"). */
export function scheduleSpellings(): { spelling: string; entry: ScheduleEntry }[] {
  return SCHEDULES.flatMap((entry) =>
    scheduleTypeNames(entry).map((s) => ({ spelling: compactName(s), entry })),
  ).sort((a, b) => b.spelling.length - a.spelling.length);
}

/** The schedule for a name, label or alias in any case; "" means Automatic. undefined if unknown. */
export function findSchedule(name: string): ScheduleEntry | undefined {
  const key = compactName(name);
  if (key === "") return AUTOMATIC_SCHEDULE;
  return scheduleSpellings().find((s) => s.spelling === key)?.entry;
}

/** The schedule for a name, or an error that lists the valid ones. */
export function resolveSchedule(name: string): ScheduleEntry {
  const entry = findSchedule(name);
  if (!entry) {
    throw new Error(`unknown schedule type "${name}"; valid choices: ${scheduleLabels().join(", ")}`);
  }
  return entry;
}

/** The labels in A1111's order (for help texts and error messages). */
export function scheduleLabels(): string[] {
  return SCHEDULES.map((s) => s.label);
}

/**
 * The σ schedule a family builds from `config`: the one the registry chose, else Karras when a
 * scheduler_config.json sets use_karras_sigmas, else undefined (the family's own schedule).
 */
export function configuredSchedule(config: SchedulerConfig): SigmaSchedule | undefined {
  return config.sigmaSchedule ?? (config.useKarrasSigmas ? SIGMAS.karras : undefined);
}
