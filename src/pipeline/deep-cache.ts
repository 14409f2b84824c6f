/**
 * DeepCache's reuse schedule (Ma et al. 2023): within one denoising run, every `interval`-th UNet
 * call runs the whole network and keeps its deep feature; the calls in between run only the
 * shallow branch (graph/unet-deepcache.ts) on that feature. Interval 1 is the plain UNet.
 *
 * The schedule counts UNet calls, not scheduler steps, so samplers that evaluate twice per step
 * (Heun, DPM2) alternate within a step. A run starts with a full call, and a call whose batch or
 * latent size differs from the cached feature's is always full. State lives in the object
 * `startRun()` returns, so concurrent runs never share a feature.
 */
import type { Shape4, UNetNetwork } from "./networks.js";

/** The hidden state entering the UNet's last up block, as the full graph returned it. */
export interface DeepFeature {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** The two halves DeepCache alternates between (same argument conventions as UNetNetwork.predict). */
export interface DeepCacheNetworks {
  readonly inChannels: number;
  /** LCM's guidance embedding width (UNetNetwork.timeCondProjDim); both halves then take timestepCond. */
  readonly timeCondProjDim?: number;
  full(
    sample: Float32Array,
    shape: Shape4,
    timestep: Float32Array,
    context: Float32Array,
    tokens: number,
    timestepCond?: Float32Array,
  ): Promise<{ prediction: Float32Array; feature: DeepFeature }>;
  shallow(
    sample: Float32Array,
    shape: Shape4,
    timestep: Float32Array,
    context: Float32Array,
    tokens: number,
    feature: DeepFeature,
    timestepCond?: Float32Array,
  ): Promise<Float32Array>;
}

/** Whether UNet call `call` (0-based within a run) runs the whole network. */
export function runsFullUNet(call: number, interval: number): boolean {
  return call % interval === 0;
}

export function validateDeepCacheInterval(interval: number): number {
  if (!Number.isInteger(interval) || interval < 1) {
    throw new Error(`DeepCache interval must be a whole number ≥ 1 (1 = off), got ${interval}`);
  }
  return interval;
}

export class DeepCacheUNet implements UNetNetwork {
  constructor(
    private readonly networks: DeepCacheNetworks,
    readonly interval: number,
  ) {
    validateDeepCacheInterval(interval);
  }

  get inChannels(): number {
    return this.networks.inChannels;
  }

  get timeCondProjDim(): number | undefined {
    return this.networks.timeCondProjDim;
  }

  startRun(): UNetNetwork {
    return new DeepCacheRun(this.networks, this.interval);
  }

  /** Outside a run (no startRun) every call is a full one. */
  async predict(
    sample: Float32Array,
    shape: Shape4,
    timestep: Float32Array,
    context: Float32Array,
    tokens: number,
    timestepCond?: Float32Array,
  ): Promise<Float32Array> {
    return (await this.networks.full(sample, shape, timestep, context, tokens, timestepCond)).prediction;
  }
}

class DeepCacheRun implements UNetNetwork {
  private calls = 0;
  private cached: { feature: DeepFeature; shape: string } | undefined;

  constructor(
    private readonly networks: DeepCacheNetworks,
    private readonly interval: number,
  ) {}

  get inChannels(): number {
    return this.networks.inChannels;
  }

  get timeCondProjDim(): number | undefined {
    return this.networks.timeCondProjDim;
  }

  async predict(
    sample: Float32Array,
    shape: Shape4,
    timestep: Float32Array,
    context: Float32Array,
    tokens: number,
    timestepCond?: Float32Array,
  ): Promise<Float32Array> {
    const key = shape.join("x");
    const call = this.calls++;
    if (this.cached?.shape === key && !runsFullUNet(call, this.interval)) {
      const feature = this.cached.feature;
      return this.networks.shallow(sample, shape, timestep, context, tokens, feature, timestepCond);
    }
    const { prediction, feature } = await this.networks.full(
      sample,
      shape,
      timestep,
      context,
      tokens,
      timestepCond,
    );
    this.cached = { feature, shape: key };
    return prediction;
  }
}
