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
import type { UNetInput, UNetNetwork } from "./networks.js";

/** The hidden state entering the UNet's last up block, as the full graph returned it. */
export interface DeepFeature {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** The two halves DeepCache alternates between (same inputs as UNetNetwork.predict). */
export interface DeepCacheNetworks {
  readonly inChannels: number;
  /** LCM's guidance embedding width (UNetNetwork.timeCondProjDim); both halves then take timestepCond. */
  readonly timeCondProjDim?: number;
  full(input: UNetInput): Promise<{ prediction: Float32Array; feature: DeepFeature }>;
  shallow(input: UNetInput, feature: DeepFeature): Promise<Float32Array>;
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
  readonly inChannels: number;
  readonly timeCondProjDim?: number;

  constructor(
    private readonly networks: DeepCacheNetworks,
    readonly interval: number,
  ) {
    validateDeepCacheInterval(interval);
    this.inChannels = networks.inChannels;
    this.timeCondProjDim = networks.timeCondProjDim;
  }

  startRun(): UNetNetwork {
    let calls = 0;
    let cached: { feature: DeepFeature; shape: string } | undefined;
    const predict = async (input: UNetInput): Promise<Float32Array> => {
      const shape = input.shape.join("x");
      const call = calls++;
      if (cached?.shape === shape && !runsFullUNet(call, this.interval)) {
        return this.networks.shallow(input, cached.feature);
      }
      const { prediction, feature } = await this.networks.full(input);
      cached = { feature, shape };
      return prediction;
    };
    return { inChannels: this.inChannels, timeCondProjDim: this.timeCondProjDim, predict };
  }

  /** Outside a run (no startRun) every call is a full one. */
  async predict(input: UNetInput): Promise<Float32Array> {
    return (await this.networks.full(input)).prediction;
  }
}
