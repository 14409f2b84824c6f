/**
 * AutoencoderTiny (TAESD) tensors, generated from a TaesdConfig the way diffusers lays out
 * `encoder.layers` / `decoder.layers`, plus detection of the config from the tensor shapes
 * (for a TAESD weights file without its config.json).
 */
import type { TaesdConfig } from "../architecture/model-config.js";
import { ModelLoadError } from "../model-load-error.js";
import { type TensorMapping, TensorMappingBuilder } from "./tensor-mapping.js";

/** AutoencoderTinyBlock: three 3x3 convs (ReLU between), identity skip when widths match. */
function block(b: TensorMappingBuilder, name: string, inCh: number, outCh: number): void {
  b.layer(`${name}.conv.0`, `${name}.conv.0`, [outCh, inCh, 3, 3]);
  b.layer(`${name}.conv.2`, `${name}.conv.2`, [outCh, outCh, 3, 3]);
  b.layer(`${name}.conv.4`, `${name}.conv.4`, [outCh, outCh, 3, 3]);
  if (inCh !== outCh) b.layer(`${name}.skip`, `${name}.skip`, [outCh, inCh, 1, 1], false);
}

export function taesdTensorNames(config: TaesdConfig, imageChannels = 3): TensorMapping[] {
  const b = new TensorMappingBuilder();
  const conv = (name: string, shape: number[], bias: boolean) => b.layer(name, name, shape, bias);
  const enc = config.encoderBlockOutChannels;
  let layer = 0;
  for (let i = 0; i < config.numEncoderBlocks.length; i++) {
    const c = enc[i];
    // the first conv reads the image; each later level starts with a stride-2 conv without bias
    if (i === 0) conv(`encoder.layers.${layer++}`, [c, imageChannels, 3, 3], true);
    else conv(`encoder.layers.${layer++}`, [c, enc[i - 1], 3, 3], false);
    for (let k = 0; k < config.numEncoderBlocks[i]; k++) block(b, `encoder.layers.${layer++}`, c, c);
  }
  conv(`encoder.layers.${layer}`, [config.latentChannels, enc[enc.length - 1], 3, 3], true);

  const dec = config.decoderBlockOutChannels;
  conv("decoder.layers.0", [dec[0], config.latentChannels, 3, 3], true);
  layer = 2; // layers.1 is the ReLU
  const levels = config.numDecoderBlocks.length;
  for (let i = 0; i < levels; i++) {
    const c = dec[i];
    const final = i === levels - 1;
    for (let k = 0; k < config.numDecoderBlocks[i]; k++) block(b, `decoder.layers.${layer++}`, c, c);
    if (!final) layer++; // nn.Upsample
    // only the output conv has a bias
    conv(`decoder.layers.${layer++}`, [final ? imageChannels : c, c, 3, 3], final);
  }
  return b.mappings;
}

/** Reads a TaesdConfig back from diffusers AutoencoderTiny tensor shapes. */
export function detectTaesd(shapes: ReadonlyMap<string, readonly number[]>, path: string): TaesdConfig {
  const fail = (msg: string): never => {
    throw new ModelLoadError("unsupported-config", path, `TAESD: ${msg}`);
  };
  const layerIndices = (half: string) =>
    [
      ...new Set(
        [...shapes.keys()].flatMap((n) => new RegExp(`^${half}\\.layers\\.(\\d+)\\.`).exec(n)?.[1] ?? []),
      ),
    ]
      .map(Number)
      .sort((a, b) => a - b);
  const isBlock = (half: string, i: number) => shapes.has(`${half}.layers.${i}.conv.0.weight`);
  const convOut = (half: string, i: number) => shapes.get(`${half}.layers.${i}.weight`)?.[0];

  // encoder: conv, blocks..., (conv, blocks...)..., conv_out
  const enc = layerIndices("encoder");
  if (enc.length < 2) fail("no encoder.layers found");
  const numEncoderBlocks: number[] = [];
  const encoderBlockOutChannels: number[] = [];
  for (const i of enc.slice(0, -1)) {
    if (isBlock("encoder", i)) numEncoderBlocks[numEncoderBlocks.length - 1]++;
    else {
      numEncoderBlocks.push(0);
      encoderBlockOutChannels.push(convOut("encoder", i) ?? fail(`encoder.layers.${i}.weight missing`));
    }
  }
  const latentChannels = convOut("encoder", enc[enc.length - 1]) ?? fail("encoder output conv missing");

  // decoder: conv, relu, then per level: blocks..., (upsample), conv whose input width is the level's
  const dec = layerIndices("decoder");
  const numDecoderBlocks: number[] = [];
  const decoderBlockOutChannels: number[] = [];
  let blocks = 0;
  for (const i of dec.slice(1)) {
    if (isBlock("decoder", i)) blocks++;
    else {
      const shape = shapes.get(`decoder.layers.${i}.weight`) ?? fail(`decoder.layers.${i}.weight missing`);
      decoderBlockOutChannels.push(shape[1]);
      numDecoderBlocks.push(blocks);
      blocks = 0;
    }
  }
  if (blocks > 0 || numDecoderBlocks.length === 0) fail("the decoder does not end with an output conv");
  return {
    encoderBlockOutChannels,
    decoderBlockOutChannels,
    numEncoderBlocks,
    numDecoderBlocks,
    latentChannels,
    latentMagnitude: 3,
    latentShift: 0.5,
    scalingFactor: 1.0,
  };
}

export type TaesdHalf = "encoder" | "decoder";

/**
 * madebyollin/taesd's own files hold nn.Sequential indices: `taesd_encoder.*` the Encoder (`0.weight`,
 * `1.conv.0.weight`, … = diffusers' `encoder.layers.N`), `taesd_decoder.*` the Decoder, whose layer 0
 * is the parameterless Clamp, so its N is diffusers' `decoder.layers.N-1` (as diffusers'
 * convert_tiny_autoencoder_to_diffusers.py maps them). A whole TAESD module's state dict prefixes the
 * same keys with `encoder.` / `decoder.`. Returns the renamer for a file's keys, or undefined when
 * its names are not in that layout.
 */
export function madebyollinTaesdRename(
  names: readonly string[],
): ((key: string) => string | undefined) | undefined {
  if (names.length === 0) return undefined;
  const layer = (half: TaesdHalf, index: number, rest: string) => {
    const i = half === "decoder" ? index - 1 : index;
    return i < 0 ? undefined : `${half}.layers.${i}.${rest}`;
  };
  if (names.every((n) => /^(encoder|decoder)\.\d+\./.test(n))) {
    return (key) => {
      const m = /^(encoder|decoder)\.(\d+)\.(.+)$/.exec(key);
      return m ? layer(m[1] as TaesdHalf, Number(m[2]), m[3]) : undefined;
    };
  }
  if (names.every((n) => /^\d+\./.test(n))) {
    // the encoder starts with a conv at 0; the decoder's first conv is at 1, after the Clamp
    const half: TaesdHalf | undefined = names.includes("0.weight")
      ? "encoder"
      : names.includes("1.weight")
        ? "decoder"
        : undefined;
    if (!half) return undefined;
    return (key) => {
      const m = /^(\d+)\.(.+)$/.exec(key);
      return m ? layer(half, Number(m[1]), m[2]) : undefined;
    };
  }
  return undefined;
}

/**
 * Whether a weight file's tensor names are TAESD's: madebyollin's layout (madebyollinTaesdRename) or
 * diffusers' AutoencoderTiny (`encoder.layers.0.weight` / `decoder.layers.0.weight`, as
 * classifyWeightFile tells "diffusers-taesd"). The browser's file picker sorts dropped files by it.
 */
export function isTaesdTensorNames(names: readonly string[]): boolean {
  return (
    madebyollinTaesdRename(names) !== undefined ||
    names.some((n) => /^(encoder|decoder)\.layers\.0\.weight$/.test(n))
  );
}

/** The names madebyollin/taesd's files have; a folder holding them loads as one TAESD. */
export const MADEBYOLLIN_TAESD_FILES = ["taesd_encoder.safetensors", "taesd_decoder.safetensors"] as const;
