/**
 * The seam between the pipeline and the engine: the three networks as plain async functions over
 * Float32Arrays with explicit shapes. How they run (graphs built from weights, an ONNX folder,
 * CPU or WebGPU) is the engine's business.
 */

export type Shape4 = readonly [number, number, number, number];

export interface TextEncoderNetwork {
  /** Width of the hidden states (768 for SD1.x). */
  readonly hiddenSize: number;
  /**
   * Set when the encoder takes extra token vectors (textual-inversion embeddings): the size of
   * its vocabulary table, from which on id `tokenTableSize + r` stands for row r of `extraTokens`.
   */
  readonly tokenTableSize?: number;
  /**
   * ids: [batch, 77] token ids. Returns [batch, 77, hiddenSize]: the last hidden state after the
   * final layer norm, or with clipSkip = k > 1 the hidden state k-1 layers earlier, then the
   * final layer norm (AUTOMATIC1111's "Clip skip"). `extraTokens`: [rows, hiddenSize] input
   * embeddings for ids ≥ tokenTableSize.
   */
  encode(ids: Int32Array, batch: number, clipSkip: number, extraTokens?: Float32Array): Promise<Float32Array>;
}

/** One UNet call's inputs. */
export interface UNetInput {
  /** [b, inChannels, h, w] */
  readonly sample: Float32Array;
  readonly shape: Shape4;
  /** [b] */
  readonly timestep: Float32Array;
  /** [b, tokens, hidden] */
  readonly context: Float32Array;
  readonly tokens: number;
  /** [b, timeCondProjDim]: given exactly when the UNet's timeCondProjDim is set. */
  readonly timestepCond?: Float32Array;
}

export interface UNetNetwork {
  /** 4, or 9 for inpainting models. */
  readonly inChannels: number;
  /**
   * LCM-distilled UNets with a guidance embedding (diffusers `time_cond_proj_dim`): its width. Such
   * a UNet runs without classifier-free guidance and takes the guidance scale as `timestepCond`
   * (pipeline/guidance-embedding.ts). Absent for ordinary UNets.
   */
  readonly timeCondProjDim?: number;
  /** The noise prediction [b, 4, h, w]. */
  predict(input: UNetInput): Promise<Float32Array>;
  /**
   * A predictor for one denoising run. Networks that carry state from step to step (DeepCache
   * reuses deep features, pipeline/deep-cache.ts) return a fresh one; stateless ones need not.
   */
  startRun?(): UNetNetwork;
}

export interface LatentDistribution {
  readonly mean: Float32Array;
  readonly std: Float32Array;
  /** [b, 4, h, w] */
  readonly dims: readonly number[];
}

export interface VaeNetwork {
  /** Multiplies a posterior sample into the UNet's latent space (0.18215 for SD1.x). */
  readonly scalingFactor: number;
  /**
   * latents [b, 4, h, w] in the UNet's latent space → image [b, 3, 8h, 8w] in model units (≈[-1, 1]).
   * The decoder applies its own scaling (the full VAE divides by 0.18215, TAESD takes them as they are).
   */
  decode(latents: Float32Array, shape: Shape4): Promise<Float32Array>;
  /** image [b, 3, H, W] in [-1, 1] → the posterior's mean and std (unscaled). */
  encode(image: Float32Array, shape: Shape4): Promise<LatentDistribution>;
}
