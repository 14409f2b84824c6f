/**
 * The architecture details a single file cannot tell (its tensor shapes are the same either way):
 * GroupNorm groups, attention heads, text-encoder activation, the prediction type, … They default to
 * SD1.5's (or SD 2.x's) values and can be given by an options object or by a
 * `<checkpoint>.sdlite.json` file beside the checkpoint:
 *
 *   { "unet": { "normNumGroups": 4, "attentionHeads": 8 },
 *     "vae": { "normNumGroups": 4 },
 *     "textEncoder": { "numAttentionHeads": 4, "hiddenAct": "quick_gelu" },
 *     "scheduler": { "predictionType": "v_prediction" } }
 *
 * diffusers/transformers config.json spellings are accepted too (`norm_num_groups`,
 * `attention_head_dim`, `num_attention_heads`, `hidden_act`, `scaling_factor`, `prediction_type`, …).
 * `unet.attentionHeads` is one count or one per down block; `unet.headChannels` gives the heads'
 * width instead (SD 2.x: 64, LDM's `num_head_channels`).
 */
import type { PredictionType } from "../../schedulers/types.js";
import { ModelLoadError } from "../model-load-error.js";
import { sameOrList, type TextEncoderConfig, type UNetConfig, type VaeConfig } from "./model-config.js";

export type UNetOverrides = Partial<
  Pick<UNetConfig, "normNumGroups" | "attentionHeads" | "normEps" | "flipSinToCos" | "freqShift"> & {
    /** Channels per attention head (heads = block width / this); beats attentionHeads. */
    headChannels: number;
  }
>;
export type VaeOverrides = Partial<Pick<VaeConfig, "normNumGroups" | "scalingFactor">>;
export type TextEncoderOverrides = Partial<
  Pick<TextEncoderConfig, "numAttentionHeads" | "hiddenAct" | "layerNormEps">
>;

/** What the UNet predicts; a single file does not record it (SD 2.x 768-v models predict v). */
export interface SchedulerOverrides {
  predictionType?: PredictionType;
}

export interface ArchitectureOverrides {
  unet?: UNetOverrides;
  vae?: VaeOverrides;
  textEncoder?: TextEncoderOverrides;
  scheduler?: SchedulerOverrides;
}

const SECTIONS = ["unet", "vae", "textEncoder", "scheduler"] as const;

type Kind =
  | "positive-int"
  | "positive-ints"
  | "positive-number"
  | "number"
  | "boolean"
  | "activation"
  | "prediction-type";

/** sdlite name -> [kind, accepted spellings]. */
const FIELDS: Record<keyof ArchitectureOverrides, Record<string, [Kind, string[]]>> = {
  unet: {
    normNumGroups: ["positive-int", ["normNumGroups", "norm_num_groups"]],
    // diffusers' SD1.x configs call the head count `attention_head_dim` (a historic misnomer)
    attentionHeads: ["positive-ints", ["attentionHeads", "attention_head_dim", "num_attention_heads"]],
    headChannels: ["positive-int", ["headChannels", "num_head_channels"]],
    normEps: ["positive-number", ["normEps", "norm_eps"]],
    flipSinToCos: ["boolean", ["flipSinToCos", "flip_sin_to_cos"]],
    freqShift: ["number", ["freqShift", "freq_shift"]],
  },
  vae: {
    normNumGroups: ["positive-int", ["normNumGroups", "norm_num_groups"]],
    scalingFactor: ["positive-number", ["scalingFactor", "scaling_factor"]],
  },
  textEncoder: {
    numAttentionHeads: ["positive-int", ["numAttentionHeads", "num_attention_heads"]],
    hiddenAct: ["activation", ["hiddenAct", "hidden_act"]],
    layerNormEps: ["positive-number", ["layerNormEps", "layer_norm_eps"]],
  },
  scheduler: {
    predictionType: ["prediction-type", ["predictionType", "prediction_type", "parameterization"]],
  },
};

/** A1111/LDM spell them "eps" and "v" (`parameterization`), diffusers "epsilon" and "v_prediction". */
const PREDICTION_SPELLINGS: Record<string, PredictionType> = {
  epsilon: "epsilon",
  eps: "epsilon",
  v_prediction: "v_prediction",
  v: "v_prediction",
};

/** Keys of diffusers config files that say nothing about the architecture; ignored, not refused. */
const IGNORED = /^_|^(architectures|model_type|torch_dtype|transformers_version)$/;

function checkValue(kind: Kind, value: unknown): boolean {
  switch (kind) {
    case "positive-int":
      return Number.isSafeInteger(value) && (value as number) > 0;
    case "positive-ints":
      return (
        checkValue("positive-int", value) ||
        (Array.isArray(value) && value.length > 0 && value.every((v) => checkValue("positive-int", v)))
      );
    case "positive-number":
      return typeof value === "number" && Number.isFinite(value) && value > 0;
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "boolean":
      return typeof value === "boolean";
    case "activation":
      return value === "quick_gelu" || value === "gelu";
    case "prediction-type":
      return typeof value === "string" && value in PREDICTION_SPELLINGS;
  }
}

/** Validates an overrides object (from JSON or from code); unknown or inferable keys are refused. */
export function parseArchitectureOverrides(value: unknown, source: string): ArchitectureOverrides {
  const fail = (msg: string): never => {
    throw new ModelLoadError("unsupported-config", source, msg);
  };
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return fail(
      'architecture overrides must be an object like {"unet": {...}, "vae": {...}, "textEncoder": {...}, "scheduler": {...}}',
    );
  }
  const out: ArchitectureOverrides = {};
  for (const [component, section] of Object.entries(value as Record<string, unknown>)) {
    if (IGNORED.test(component)) continue;
    const fields = FIELDS[component as keyof ArchitectureOverrides];
    if (!fields) fail(`unknown component "${component}" (expected ${SECTIONS.join(", ")})`);
    if (section === null || typeof section !== "object" || Array.isArray(section)) {
      fail(`"${component}" must be an object`);
    }
    const parsed: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(section as Record<string, unknown>)) {
      if (IGNORED.test(key)) continue;
      const entry = Object.entries(fields).find(([, [, spellings]]) => spellings.includes(key));
      if (!entry) {
        fail(
          `"${component}.${key}" cannot be set: it is read from the tensor shapes or unknown; settable: ${Object.keys(fields).join(", ")}`,
        );
        continue;
      }
      const [name, [kind]] = entry;
      if (!checkValue(kind, v)) fail(`"${component}.${key}" must be a ${kind}, got ${JSON.stringify(v)}`);
      parsed[name] =
        kind === "prediction-type"
          ? PREDICTION_SPELLINGS[v as string]
          : kind === "positive-ints" && Array.isArray(v)
            ? sameOrList(v)
            : v;
    }
    (out as Record<string, unknown>)[component] = parsed;
  }
  return out;
}

/** Later sources win, field by field. */
export function mergeOverrides(...sources: (ArchitectureOverrides | undefined)[]): ArchitectureOverrides {
  const out: ArchitectureOverrides = {};
  for (const s of sources) {
    if (!s) continue;
    if (s.unet) out.unet = { ...out.unet, ...s.unet };
    if (s.vae) out.vae = { ...out.vae, ...s.vae };
    if (s.textEncoder) out.textEncoder = { ...out.textEncoder, ...s.textEncoder };
    if (s.scheduler) out.scheduler = { ...out.scheduler, ...s.scheduler };
  }
  return out;
}
