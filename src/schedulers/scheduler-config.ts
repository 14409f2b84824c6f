/**
 * diffusers' scheduler_config.json (snake_case) -> SchedulerConfig. Switching samplers in diffusers
 * is `NewClass.from_config(file)`: keys the file has are kept, keys it lacks take the new class's
 * default. Defaults shared by every class are filled in here; class-dependent ones
 * (timestep_spacing, set_alpha_to_one, clip_sample) are recorded in `unsetKeys` and resolved by
 * each family with `familyDefault`.
 */
import type { PredictionType, SchedulerConfig, TimestepSpacing } from "./types.js";

/** Keys whose diffusers default differs between scheduler classes. */
const CLASS_DEPENDENT_KEYS = ["timestep_spacing", "set_alpha_to_one", "clip_sample"] as const;

const BETA_SCHEDULES = ["linear", "scaled_linear"] as const;
const PREDICTION_TYPES = ["epsilon", "v_prediction"] as const;
const SPACINGS = ["leading", "trailing", "linspace"] as const;

function pick<T extends string>(value: unknown, allowed: readonly T[], key: string): T {
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw new Error(
    `scheduler config: ${key} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`,
  );
}

function numberOr(json: Record<string, unknown>, key: string, fallback: number): number {
  const value = json[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new Error(`scheduler config: ${key} must be a number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function booleanOr(json: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const value = json[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "boolean") {
    throw new Error(`scheduler config: ${key} must be true or false, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Parses a scheduler_config.json object. Every key of the file is also kept verbatim in `extra`
 * (snake_case), so a family can read its own options (eta, algorithm_type, ...) from it.
 */
export function parseSchedulerConfig(json: Record<string, unknown>): SchedulerConfig {
  const present = (key: string) => json[key] !== undefined && json[key] !== null;
  const unsetKeys = CLASS_DEPENDENT_KEYS.filter((key) => !present(key));
  return {
    numTrainTimesteps: numberOr(json, "num_train_timesteps", 1000),
    // diffusers' class defaults (0.0001, 0.02, linear); SD1.5 files set 0.00085, 0.012, scaled_linear
    betaStart: numberOr(json, "beta_start", 0.0001),
    betaEnd: numberOr(json, "beta_end", 0.02),
    betaSchedule: present("beta_schedule")
      ? pick(json.beta_schedule, BETA_SCHEDULES, "beta_schedule")
      : "linear",
    predictionType: present("prediction_type")
      ? pick<PredictionType>(json.prediction_type, PREDICTION_TYPES, "prediction_type")
      : "epsilon",
    timestepSpacing: present("timestep_spacing")
      ? pick<TimestepSpacing>(json.timestep_spacing, SPACINGS, "timestep_spacing")
      : undefined,
    stepsOffset: numberOr(json, "steps_offset", 0),
    setAlphaToOne: booleanOr(json, "set_alpha_to_one", false),
    clipSample: booleanOr(json, "clip_sample", false),
    useKarrasSigmas: booleanOr(json, "use_karras_sigmas", false),
    extra: { ...json },
    unsetKeys,
  };
}

/**
 * A class-dependent option: the config's value unless the source file lacked the key, in which
 * case the family's own diffusers default (e.g. set_alpha_to_one: DDIM true, PNDM false).
 */
export function familyDefault<T>(
  config: SchedulerConfig,
  key: (typeof CLASS_DEPENDENT_KEYS)[number],
  value: T,
  classDefault: T,
): T {
  return config.unsetKeys?.includes(key) ? classDefault : value;
}

/** The timestep spacing a family uses: the config's, else the family's diffusers default. */
export function spacingFor(config: SchedulerConfig, classDefault: TimestepSpacing): TimestepSpacing {
  return config.timestepSpacing ?? classDefault;
}

/** A number from `extra` (family options such as eta), else the default. */
export function extraNumber(config: SchedulerConfig, key: string, fallback: number): number {
  const value = config.extra[key];
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}
