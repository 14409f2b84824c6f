/**
 * diffusers / transformers `config.json` objects → the typed configs in model-config.ts. A missing
 * key takes the class's own default (as `from_pretrained` does); a setting the graphs do not
 * implement is refused with its name, rather than silently built wrong.
 */
import {
  sameOrList,
  type TaesdConfig,
  type TextEncoderConfig,
  type UNetConfig,
  type VaeConfig,
} from "./model-config.js";

type Json = Record<string, unknown>;

export class ConfigError extends Error {
  constructor(component: string, message: string) {
    super(`${component} config: ${message}`);
    this.name = "ConfigError";
  }
}

function reader(component: string, json: Json) {
  const get = (key: string): unknown => (json[key] === null ? undefined : json[key]);
  return {
    number(key: string, fallback: number): number {
      const v = get(key) ?? fallback;
      if (typeof v !== "number" || !Number.isFinite(v))
        throw new ConfigError(component, `"${key}" must be a number, got ${JSON.stringify(v)}`);
      return v;
    },
    numbers(key: string, fallback: readonly number[]): number[] {
      const v = get(key) ?? fallback;
      if (!Array.isArray(v) || !v.every((x) => typeof x === "number")) {
        throw new ConfigError(component, `"${key}" must be a list of numbers, got ${JSON.stringify(v)}`);
      }
      return [...v];
    },
    strings(key: string, fallback: readonly string[]): string[] {
      const v = get(key) ?? fallback;
      if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
        throw new ConfigError(component, `"${key}" must be a list of strings, got ${JSON.stringify(v)}`);
      }
      return [...v];
    },
    boolean(key: string, fallback: boolean): boolean {
      const v = get(key) ?? fallback;
      if (typeof v !== "boolean")
        throw new ConfigError(component, `"${key}" must be true/false, got ${JSON.stringify(v)}`);
      return v;
    },
    /** Refuses values other than the ones the graph builder implements. */
    require(key: string, allowed: readonly unknown[]): void {
      const v = get(key);
      if (v === undefined) return;
      if (!allowed.some((a) => JSON.stringify(a) === JSON.stringify(v))) {
        throw new ConfigError(
          component,
          `"${key}": ${JSON.stringify(v)} is not supported (supported: ${allowed.map((a) => JSON.stringify(a)).join(", ")})`,
        );
      }
    },
  };
}

/**
 * diffusers: num_attention_heads defaults to attention_head_dim, which for SD1.x/SD2.x really is the
 * head count: one number (SD1.x: 8) or one per down block (SD2.x: [5, 10, 20, 20]). A list whose
 * entries are all equal is kept as one number, so such configs compare equal to SD1.x's.
 */
function headCounts(json: Json, blockOutChannels: readonly number[]): number | number[] {
  const raw = json.num_attention_heads ?? json.attention_head_dim ?? 8;
  const list = Array.isArray(raw) ? raw : [raw];
  if (!list.every((h) => Number.isSafeInteger(h) && (h as number) > 0)) {
    throw new ConfigError("UNet", `head counts ${JSON.stringify(raw)} must be positive whole numbers`);
  }
  if (Array.isArray(raw) && raw.length !== blockOutChannels.length) {
    throw new ConfigError(
      "UNet",
      `${raw.length} head counts ${JSON.stringify(raw)} for ${blockOutChannels.length} blocks`,
    );
  }
  blockOutChannels.forEach((c, i) => {
    const heads = list[Array.isArray(raw) ? i : 0] as number;
    if (c % heads !== 0) throw new ConfigError("UNet", `block width ${c} is not divisible by ${heads} heads`);
  });
  return sameOrList(list as number[]);
}

/** UNet2DConditionModel config.json (SD1.x and SD2.x families). */
export function parseUNetConfig(json: Json): UNetConfig {
  const r = reader("UNet", json);
  r.require("act_fn", ["silu"]);
  r.require("center_input_sample", [false]);
  r.require("time_embedding_type", ["positional"]);
  r.require("class_embed_type", []);
  r.require("addition_embed_type", []);
  r.require("encoder_hid_dim", []);
  r.require("only_cross_attention", [false]);
  r.require("dual_cross_attention", [false]);
  r.require("mid_block_type", ["UNetMidBlock2DCrossAttn"]);
  r.require("resnet_time_scale_shift", ["default"]);
  r.require("transformer_layers_per_block", [1]);
  r.require("conv_in_kernel", [3]);
  r.require("conv_out_kernel", [3]);
  r.require("downsample_padding", [1]);
  r.require("mid_block_scale_factor", [1]);
  r.require("resnet_out_scale_factor", [1]);
  r.require("attention_type", ["default"]);
  const blockOutChannels = r.numbers("block_out_channels", [320, 640, 1280, 1280]);
  const attentionHeads = headCounts(json, blockOutChannels);
  const timeCondProjDim = json.time_cond_proj_dim ?? undefined;
  if (
    timeCondProjDim !== undefined &&
    !(Number.isInteger(timeCondProjDim) && (timeCondProjDim as number) > 0)
  ) {
    throw new ConfigError(
      "UNet",
      `"time_cond_proj_dim" must be a positive whole number or null, got ${JSON.stringify(timeCondProjDim)}`,
    );
  }
  return {
    inChannels: r.number("in_channels", 4),
    outChannels: r.number("out_channels", 4),
    blockOutChannels,
    layersPerBlock: r.number("layers_per_block", 2),
    crossAttentionDim: r.number("cross_attention_dim", 1280),
    attentionHeads,
    normNumGroups: r.number("norm_num_groups", 32),
    normEps: r.number("norm_eps", 1e-5),
    downBlockTypes: r.strings("down_block_types", [
      "CrossAttnDownBlock2D",
      "CrossAttnDownBlock2D",
      "CrossAttnDownBlock2D",
      "DownBlock2D",
    ]),
    upBlockTypes: r.strings("up_block_types", [
      "UpBlock2D",
      "CrossAttnUpBlock2D",
      "CrossAttnUpBlock2D",
      "CrossAttnUpBlock2D",
    ]),
    useLinearProjection: r.boolean("use_linear_projection", false),
    flipSinToCos: r.boolean("flip_sin_to_cos", true),
    freqShift: r.number("freq_shift", 0),
    // LCM's guidance embedding; the key stays absent for ordinary UNets (configs compare equal)
    ...(timeCondProjDim !== undefined && { timeCondProjDim: timeCondProjDim as number }),
  };
}

/** transformers CLIPTextConfig (text_encoder/config.json). */
export function parseTextEncoderConfig(json: Json): TextEncoderConfig {
  const r = reader("text encoder", json);
  r.require("hidden_act", ["quick_gelu", "gelu"]);
  return {
    hiddenSize: r.number("hidden_size", 512),
    intermediateSize: r.number("intermediate_size", 2048),
    numHiddenLayers: r.number("num_hidden_layers", 12),
    numAttentionHeads: r.number("num_attention_heads", 8),
    maxPositionEmbeddings: r.number("max_position_embeddings", 77),
    vocabSize: r.number("vocab_size", 49408),
    hiddenAct: (json.hidden_act as TextEncoderConfig["hiddenAct"] | undefined) ?? "quick_gelu",
    layerNormEps: r.number("layer_norm_eps", 1e-5),
  };
}

/** AutoencoderKL config.json. */
export function parseVaeConfig(json: Json): VaeConfig {
  const r = reader("VAE", json);
  r.require("act_fn", ["silu"]);
  return {
    inChannels: r.number("in_channels", 3),
    outChannels: r.number("out_channels", 3),
    latentChannels: r.number("latent_channels", 4),
    blockOutChannels: r.numbers("block_out_channels", [64]),
    layersPerBlock: r.number("layers_per_block", 1),
    normNumGroups: r.number("norm_num_groups", 32),
    scalingFactor: r.number("scaling_factor", 0.18215),
  };
}

/** AutoencoderTiny config.json; older files give one `block_out_channels` for both halves. */
export function parseTaesdConfig(json: Json): TaesdConfig {
  const r = reader("TAESD", json);
  r.require("act_fn", ["relu"]);
  r.require("upsampling_scaling_factor", [2]);
  const shared = r.numbers("block_out_channels", [64, 64, 64, 64]);
  return {
    encoderBlockOutChannels: r.numbers("encoder_block_out_channels", shared),
    decoderBlockOutChannels: r.numbers("decoder_block_out_channels", shared),
    numEncoderBlocks: r.numbers("num_encoder_blocks", [1, 3, 3, 3]),
    numDecoderBlocks: r.numbers("num_decoder_blocks", [3, 3, 3, 1]),
    latentChannels: r.number("latent_channels", 4),
    latentMagnitude: r.number("latent_magnitude", 3),
    latentShift: r.number("latent_shift", 0.5),
    scalingFactor: r.number("scaling_factor", 1.0),
  };
}

/** Which parser a config.json needs, from its `_class_name` / `architectures` / `model_type`. */
export function configKind(json: Json): "unet" | "text_encoder" | "vae" | "taesd" | undefined {
  const cls = json._class_name;
  if (cls === "UNet2DConditionModel") return "unet";
  if (cls === "AutoencoderKL") return "vae";
  if (cls === "AutoencoderTiny") return "taesd";
  const archs = json.architectures;
  if (json.model_type === "clip_text_model" || (Array.isArray(archs) && archs.includes("CLIPTextModel")))
    return "text_encoder";
  return undefined;
}
