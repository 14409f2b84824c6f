/**
 * A random-weight TAESD (AutoencoderTiny) in diffusers' folder layout (config.json +
 * diffusion_pytorch_model.safetensors), full size by default (64 channels), so the bench can time the
 * TAESD decoder without downloading it. Tensor names come from the loader's own key map; values
 * follow PyTorch's default conv init (uniform ±1/√fan_in), in F16 like the published weights.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SD15_TAESD, type TaesdConfig } from "../weights/architecture/model-config.js";
import { f32ToF16Bits } from "../weights/formats/dtype.js";
import { writeSafetensors } from "../weights/formats/safetensors-writer.js";
import { taesdTensorNames } from "../weights/key-maps/taesd-key-map.js";
import { numelOf } from "../weights/key-maps/tensor-mapping.js";
import { initFor } from "../weights/random-checkpoint.js";

export const TAESD_WEIGHTS_FILE = "diffusion_pytorch_model.safetensors";

/** diffusers' AutoencoderTiny config.json for a TaesdConfig. */
export function taesdConfigJson(config: TaesdConfig): Record<string, unknown> {
  return {
    _class_name: "AutoencoderTiny",
    act_fn: "relu",
    block_out_channels: config.encoderBlockOutChannels,
    decoder_block_out_channels: config.decoderBlockOutChannels,
    encoder_block_out_channels: config.encoderBlockOutChannels,
    force_upcast: false,
    in_channels: 3,
    latent_channels: config.latentChannels,
    latent_magnitude: config.latentMagnitude,
    latent_shift: config.latentShift,
    num_decoder_blocks: config.numDecoderBlocks,
    num_encoder_blocks: config.numEncoderBlocks,
    out_channels: 3,
    scaling_factor: config.scalingFactor,
    upsampling_scaling_factor: 2,
  };
}

/** xorshift32 seeded per tensor: independent of write order, reproducible. */
function uniformStream(name: string, seed: number): () => number {
  let s = (0x9e3779b9 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) s = Math.imul(s ^ name.charCodeAt(i), 0x01000193) >>> 0;
  if (s === 0) s = 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

export function writeRandomTaesd(dir: string, config: TaesdConfig = SD15_TAESD, seed = 0): void {
  mkdirSync(dir, { recursive: true });
  const mappings = taesdTensorNames(config);
  const shapes = new Map(mappings.map((m) => [m.canonical, m.shape]));
  const tensors = mappings.map((m) => {
    const init = initFor(m, (name) => shapes.get(name));
    return {
      name: m.canonical,
      dtype: "F16" as const,
      shape: m.shape,
      data: () => {
        const out = new Uint16Array(numelOf(m.shape));
        if (init.kind === "constant") return out.fill(f32ToF16Bits(init.value));
        const next = uniformStream(m.canonical, seed);
        for (let i = 0; i < out.length; i++) out[i] = f32ToF16Bits((2 * next() - 1) * init.bound);
        return out;
      },
    };
  });
  // weights first: a folder with a config but no weights would look complete to the loader
  writeSafetensors(join(dir, TAESD_WEIGHTS_FILE), tensors, {
    format: "pt",
    sdlite_random_taesd: JSON.stringify({ seed }),
  });
  writeFileSync(join(dir, "config.json"), `${JSON.stringify(taesdConfigJson(config), null, 2)}\n`);
}
