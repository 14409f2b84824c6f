/**
 * Few-step recipes: the sampler, schedule, steps, CFG and (where the recipe needs it) eta that a
 * distilled LoRA is made for, under one name (`sdlite generate --recipe NAME`). Settings given
 * explicitly win over the recipe's; the recipe's schedule type goes with its sampler only. The
 * LoRA itself is the user's to give (`lora` says which one and at what weight).
 *
 * Sources: ByteDance/Hyper-SD's model card (SD1.5 LoRAs: 1 step with TCDScheduler and eta 1;
 * 2, 4 and 8 steps with DDIMScheduler and timestep_spacing "trailing"; guidance_scale 0, which is
 * sdlite's CFG ≤ 1: no guidance), h1t/TCD-SD15's (TCD, 4 steps, guidance 0, eta = gamma 0.3) and
 * latent-consistency/lcm-lora-sdv1-5's (LCM, 4 to 8 steps, guidance 1 to 2).
 */
import type { TimestepSpacing } from "../schedulers/types.js";
import { InvalidRequestError } from "./invalid-request.js";

export interface Recipe {
  readonly name: string;
  readonly sampler: string;
  /** A1111 Schedule type for `sampler` (only with the recipe's own sampler). */
  readonly schedule?: string;
  readonly timestepSpacing?: TimestepSpacing;
  readonly steps: number;
  readonly cfg: number;
  readonly eta?: number;
  /** The LoRA the recipe is for, as `--lora FILE:WEIGHT`. */
  readonly lora: string;
  readonly description: string;
}

export const RECIPES: readonly Recipe[] = [
  {
    name: "hyper-sd-1",
    sampler: "TCD",
    steps: 1,
    cfg: 1,
    eta: 1,
    lora: "Hyper-SD15-1step-lora.safetensors:1",
    description: "Hyper-SD 1-step LoRA: TCD, eta 1, 1 step, no CFG",
  },
  {
    name: "hyper-sd-2",
    sampler: "DDIM",
    timestepSpacing: "trailing",
    steps: 2,
    cfg: 1,
    lora: "Hyper-SD15-2steps-lora.safetensors:1",
    description: "Hyper-SD 2-step LoRA: DDIM, trailing timesteps, 2 steps, no CFG",
  },
  {
    name: "hyper-sd-4",
    sampler: "DDIM",
    timestepSpacing: "trailing",
    steps: 4,
    cfg: 1,
    lora: "Hyper-SD15-4steps-lora.safetensors:1",
    description: "Hyper-SD 4-step LoRA: DDIM, trailing timesteps, 4 steps, no CFG",
  },
  {
    name: "hyper-sd-8",
    sampler: "DDIM",
    timestepSpacing: "trailing",
    steps: 8,
    cfg: 1,
    lora: "Hyper-SD15-8steps-lora.safetensors:1",
    description: "Hyper-SD 8-step LoRA: DDIM, trailing timesteps, 8 steps, no CFG",
  },
  {
    name: "hyper-sd-8-dpm",
    sampler: "DPM++ 2M",
    schedule: "Karras",
    steps: 8,
    cfg: 1,
    lora: "Hyper-SD15-8steps-lora.safetensors:0.7",
    description: "Hyper-SD 8-step LoRA at 0.7 with DPM++ 2M Karras, 8 steps, no CFG (the old-laptop recipe)",
  },
  {
    name: "tcd",
    sampler: "TCD",
    steps: 4,
    cfg: 1,
    eta: 0.3,
    lora: "TCD-SD15.safetensors:1",
    description: "TCD LoRA: TCD, gamma (--eta) 0.3, 4 steps, no CFG",
  },
  {
    name: "lcm-lora",
    sampler: "LCM",
    steps: 4,
    cfg: 1,
    lora: "lcm-lora-sdv1-5.safetensors:1",
    description: "LCM-LoRA on any SD1.5 checkpoint: LCM, 4 steps (4-8), CFG 1 (1-2)",
  },
];

export function findRecipe(name: string): Recipe {
  const recipe = RECIPES.find((r) => r.name === name.trim().toLowerCase());
  if (!recipe) {
    throw new InvalidRequestError(
      `unknown recipe "${name}"; recipes: ${RECIPES.map((r) => r.name).join(", ")}`,
    );
  }
  return recipe;
}

/** Settings as a caller gives them: undefined where not given. */
export interface RecipeSettings {
  sampler?: string;
  schedule?: string;
  timestepSpacing?: TimestepSpacing;
  steps?: number;
  cfg?: number;
  eta?: number;
}

/** The settings with the recipe's filled in where none was given. */
export function applyRecipe(recipe: Recipe | undefined, given: RecipeSettings): RecipeSettings {
  if (!recipe) return given;
  const ownSampler = given.sampler === undefined;
  return {
    sampler: given.sampler ?? recipe.sampler,
    schedule: given.schedule ?? (ownSampler ? recipe.schedule : undefined),
    timestepSpacing: given.timestepSpacing ?? recipe.timestepSpacing,
    steps: given.steps ?? recipe.steps,
    cfg: given.cfg ?? recipe.cfg,
    eta: given.eta ?? recipe.eta,
  };
}
