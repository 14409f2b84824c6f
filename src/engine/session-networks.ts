/**
 * The pipeline's network seams implemented over runtime sessions. The same classes serve graphs
 * sdlite built from weights and ONNX pipeline folders run as they are: only names differ.
 */

import { latentDistributionFromMoments } from "../pipeline/latent-distribution.js";
import type {
  LatentDistribution,
  Shape4,
  TextEncoderNetwork,
  UNetInput,
  UNetNetwork,
  VaeNetwork,
} from "../pipeline/networks.js";
import type { Session, SessionFeed, TensorData } from "../runtime/runtime.js";
import type { DeviceResidentFeeds } from "./device-resident-feeds.js";
import type { LazySession } from "./lazy-session.js";
import { type FloatTensor, tiledDecode, tiledEncode } from "./tiled-vae.js";

/** A float output of a run, by name; an error naming it when the model did not produce it. */
export function floatOutput(result: Record<string, TensorData>, name: string): Float32Array {
  const t = result[name];
  if (!t || !(t.data instanceof Float32Array))
    throw new Error(`the model produced no float output "${name}"`);
  return t.data;
}

export interface TextEncoderIo {
  input: string;
  /** Output for A1111 clip skip k (1 = last layer); undefined when this model can't skip. */
  outputFor(clipSkip: number): string | undefined;
  /** The input for extra token vectors (graph/text-encoder.ts `extraTokens`) and the vocabulary size. */
  extraTokens?: { name: string; vocabSize: number };
}

export class SessionTextEncoder implements TextEncoderNetwork {
  constructor(
    private readonly session: LazySession,
    readonly hiddenSize: number,
    private readonly io: TextEncoderIo,
  ) {}

  get tokenTableSize(): number | undefined {
    return this.io.extraTokens?.vocabSize;
  }

  async encode(
    ids: Int32Array,
    batch: number,
    clipSkip: number,
    extraTokens?: Float32Array,
  ): Promise<Float32Array> {
    const name = this.io.outputFor(clipSkip);
    if (!name) throw new Error(`clip skip ${clipSkip} is not available for this text encoder`);
    const extra = this.io.extraTokens;
    if (extraTokens && !extra) {
      throw new Error(
        "this text encoder takes no textual-inversion embeddings (an ONNX pipeline folder's cannot)",
      );
    }
    const feeds: Record<string, TensorData> = {
      [this.io.input]: { dims: [batch, ids.length / batch], data: ids },
    };
    if (extra) {
      // the input always needs a row; without embeddings no id reaches it
      const rows = extraTokens && extraTokens.length > 0 ? extraTokens : new Float32Array(this.hiddenSize);
      feeds[extra.name] = { dims: [rows.length / this.hiddenSize, this.hiddenSize], data: rows };
    }
    const s = await this.session.get();
    const result = await s.run(feeds, [name]);
    return floatOutput(result, name);
  }
}

export interface UNetIo {
  sample: string;
  timestep: string;
  /** ONNX exports differ: float32 (diffusers' exporter, and sdlite's graphs: the default) or int64 timesteps. */
  timestepType?: "float32" | "int64";
  context: string;
  output: string;
  /** UNets with LCM's guidance embedding: the `timestep_cond` input and its width. */
  timestepCond?: { name: string; dim: number };
  /**
   * Hub ONNX exports bake in "upsample ×2" (traced at one size), so their latent sides must be
   * multiples of 8: checked up front, because onnxruntime only fails deep inside with a Concat error.
   */
  latentSides?: { multipleOf: number; model: string };
}

/** The feeds of one UNet call: sample, timestep, context and (LCM) the guidance embedding. */
export function unetFeeds(io: UNetIo, input: UNetInput): Record<string, TensorData> {
  const { sample, shape, timestep, context, tokens } = input;
  const limit = io.latentSides;
  const [, , h, w] = shape;
  if (limit && (h % limit.multipleOf !== 0 || w % limit.multipleOf !== 0)) {
    const m = limit.multipleOf;
    throw new Error(
      `${limit.model}: this ONNX UNet was exported with fixed ×2 upsampling and only runs latents whose sides are multiples of ${m} (images whose sides are multiples of ${8 * m} px); got ${h}×${w} latents (${8 * h}×${8 * w} px)`,
    );
  }
  const t: TensorData =
    io.timestepType === "int64"
      ? { dims: [timestep.length], data: BigInt64Array.from(timestep, (v) => BigInt(Math.round(v))) }
      : { dims: [timestep.length], data: timestep };
  return {
    [io.sample]: { dims: shape, data: sample },
    [io.timestep]: t,
    [io.context]: { dims: [shape[0], tokens, context.length / (shape[0] * tokens)], data: context },
    ...timestepCondFeed(io.timestepCond, input.timestepCond),
  };
}

/**
 * unetFeeds with the context (the text embeddings, the same for every step) fed from device memory
 * where `resident` is given: uploaded on the first step, the same device tensor after.
 */
export async function residentUnetFeeds(
  io: UNetIo,
  input: UNetInput,
  resident: DeviceResidentFeeds | undefined,
): Promise<Record<string, SessionFeed>> {
  const feeds: Record<string, SessionFeed> = unetFeeds(io, input);
  if (resident) {
    const context = feeds[io.context] as TensorData;
    feeds[io.context] = await resident.feed(input.context, context.dims);
  }
  return feeds;
}

export class SessionUNet implements UNetNetwork {
  constructor(
    private readonly session: LazySession,
    readonly inChannels: number,
    private readonly io: UNetIo,
    /** Keeps the context in device memory across steps (WebGPU); undefined: every step feeds it from the CPU. */
    private readonly resident?: DeviceResidentFeeds,
  ) {}

  get timeCondProjDim(): number | undefined {
    return this.io.timestepCond?.dim;
  }

  async predict(input: UNetInput): Promise<Float32Array> {
    const feeds = await residentUnetFeeds(this.io, input, this.resident);
    const s: Session = await this.session.get();
    const result = await s.run(feeds, [this.io.output]);
    return floatOutput(result, this.io.output);
  }
}

/**
 * The `timestep_cond` feed of a UNet with LCM's guidance embedding; none for other UNets. A
 * mismatch either way is an error: dropping or inventing the embedding would change the images.
 */
function timestepCondFeed(
  io: UNetIo["timestepCond"],
  timestepCond: Float32Array | undefined,
): Record<string, TensorData> {
  if (!io) {
    if (timestepCond) throw new Error("this UNet has no guidance embedding input (timestep_cond)");
    return {};
  }
  if (!timestepCond || timestepCond.length % io.dim !== 0 || timestepCond.length === 0) {
    throw new Error(
      `this LCM UNet needs its guidance embedding "${io.name}" [batch, ${io.dim}]; got ${timestepCond ? `${timestepCond.length} values` : "none"}`,
    );
  }
  return { [io.name]: { dims: [timestepCond.length / io.dim, io.dim], data: timestepCond } };
}

export interface VaeDecoderIo {
  input: string;
  output: string;
}

export interface VaeEncoderIo {
  input: string;
  mean: string;
  /** Absent for ONNX exports that only return a sample: the sample then stands in for the mean. */
  std?: string;
  /**
   * [mean ‖ unclamped logvar], what tiled encoding blends (diffusers' tiled_encode) before the clamp;
   * absent for ONNX exports, whose tiles blend the sample (the mean) alone.
   */
  moments?: string;
}

export interface VaeDecoderOptions {
  /** The decoder takes latents / this (1 for TAESD). */
  latentScale: number;
  /**
   * Tile latents larger than this many latent pixels per side (diffusers' tiled_decode), and images
   * larger than 8× it (tiled_encode); 0 = never.
   */
  tileLatentSize: number;
}

export class SessionVae implements VaeNetwork {
  constructor(
    private readonly decoder: LazySession,
    private readonly decoderIo: VaeDecoderIo,
    private readonly decoderOptions: VaeDecoderOptions,
    private readonly encoder: LazySession | undefined,
    private readonly encoderIo: VaeEncoderIo | undefined,
    readonly scalingFactor: number,
  ) {}

  async decode(latents: Float32Array, shape: Shape4): Promise<Float32Array> {
    const { latentScale, tileLatentSize } = this.decoderOptions;
    const scaled = latentScale === 1 ? latents : latents.map((v) => v / latentScale);
    const s = await this.decoder.get();
    const decodeTile = async (tile: FloatTensor): Promise<FloatTensor> => {
      const result = await s.run({ [this.decoderIo.input]: tile }, [this.decoderIo.output]);
      return { data: floatOutput(result, this.decoderIo.output), dims: result[this.decoderIo.output].dims };
    };
    const input = { data: scaled, dims: shape };
    if (tileLatentSize <= 0) return (await decodeTile(input)).data;
    return (await tiledDecode(input, decodeTile, { tileSampleSize: tileLatentSize * 8 })).data;
  }

  async encode(image: Float32Array, shape: Shape4): Promise<LatentDistribution> {
    if (!this.encoder || !this.encoderIo) {
      throw new Error("this model has no VAE encoder, so it cannot do img2img or inpainting");
    }
    const io = this.encoderIo;
    const s = await this.encoder.get();
    const tileSampleSize = 8 * this.decoderOptions.tileLatentSize;
    const [, , height, width] = shape;
    if (tileSampleSize <= 0 || (height <= tileSampleSize && width <= tileSampleSize)) {
      const names = io.std ? [io.mean, io.std] : [io.mean];
      const result = await s.run({ [io.input]: { dims: shape, data: image } }, names);
      const mean = floatOutput(result, io.mean);
      const dims = [shape[0], 4, shape[2] / 8, shape[3] / 8];
      return { mean, std: io.std ? floatOutput(result, io.std) : new Float32Array(mean.length), dims };
    }
    // one tile at a time, so the encoder's activations are bounded by the tile, not the image
    const blended = io.moments ?? io.mean;
    const encodeTile = async (tile: FloatTensor): Promise<FloatTensor> => {
      const result = await s.run({ [io.input]: tile }, [blended]);
      return { data: floatOutput(result, blended), dims: result[blended].dims };
    };
    const tiled = await tiledEncode({ data: image, dims: shape }, encodeTile, { tileSampleSize });
    if (!io.moments) return { mean: tiled.data, std: new Float32Array(tiled.data.length), dims: tiled.dims };
    const { mean, std, dims } = latentDistributionFromMoments(tiled.data, tiled.dims);
    return { mean, std, dims };
  }
}
