/**
 * The schedule types ("Schedule type" in AUTOMATIC1111 ≥ 1.9, `scheduler` in its API) as data:
 * names, labels, aliases, default ρ and need_inner_model exactly as A1111's
 * modules/sd_schedulers.py lists them (what /sdapi/v1/schedulers answers), plus the ComfyUI and
 * stable-diffusion.cpp names sdlite also accepts. No formulas here (sigma-schedules.ts has
 * them), so the infotext reader and the web UI can know the names without the maths.
 */
export interface ScheduleType {
  /** A1111's id ("sgm_uniform"). */
  readonly name: string;
  /** A1111's label, what infotexts write after "Schedule type:" ("SGM Uniform"). */
  readonly label: string;
  /** A1111's aliases (what /sdapi/v1/schedulers lists). */
  readonly aliases: readonly string[];
  /** Further names accepted: ComfyUI's and stable-diffusion.cpp's. */
  readonly otherNames: readonly string[];
  /** A1111's default_rho (-1: the schedule has no ρ). */
  readonly defaultRho: number;
  /** A1111's need_inner_model: built from the model's training σ table, not σ_min/σ_max alone. */
  readonly needInnerModel: boolean;
}

const type = (
  name: string,
  label: string,
  options: Partial<Pick<ScheduleType, "aliases" | "otherNames" | "defaultRho" | "needInnerModel">> = {},
): ScheduleType => ({
  name,
  label,
  aliases: [],
  otherNames: [],
  defaultRho: -1,
  needInnerModel: false,
  ...options,
});

/** In A1111's order. */
export const SCHEDULE_TYPES: readonly ScheduleType[] = [
  // sd.cpp's "default"/"discrete" are the sampler's own schedule too
  type("automatic", "Automatic", { otherNames: ["default", "discrete"] }),
  type("uniform", "Uniform", { needInnerModel: true }),
  type("karras", "Karras", { defaultRho: 7 }),
  type("exponential", "Exponential"),
  type("polyexponential", "Polyexponential", { defaultRho: 1 }),
  type("sgm_uniform", "SGM Uniform", { aliases: ["SGMUniform"], needInnerModel: true }),
  type("kl_optimal", "KL Optimal"),
  type("align_your_steps", "Align Your Steps", { otherNames: ["ays"] }), // sd.cpp: ays
  type("simple", "Simple", { needInnerModel: true }),
  type("normal", "Normal", { needInnerModel: true }),
  type("ddim", "DDIM", { otherNames: ["ddim_uniform"], needInnerModel: true }), // ComfyUI: ddim_uniform
  type("beta", "Beta", { needInnerModel: true }),
];

/** Every name, label and alias a schedule type is written with, in A1111's and the others' spelling. */
export function scheduleTypeNames(entry: ScheduleType): string[] {
  return [entry.name, entry.label, ...entry.aliases, ...entry.otherNames];
}

/**
 * An old-style sampler name with the schedule folded in ("DPM++ 2M Karras", "Euler a SGM Uniform")
 * split as A1111's get_sampler_and_scheduler does: a space, then a schedule's label, name or alias.
 */
export function splitFoldedSchedule(name: string): { sampler: string; scheduleType?: string } {
  for (const entry of SCHEDULE_TYPES.slice(1)) {
    for (const spelling of [entry.label, entry.name, ...entry.aliases]) {
      if (name.toLowerCase().endsWith(` ${spelling.toLowerCase()}`)) {
        return { sampler: name.slice(0, -spelling.length - 1), scheduleType: entry.label };
      }
    }
  }
  return { sampler: name };
}
