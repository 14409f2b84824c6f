/**
 * TCD ("TCD"), as diffusers 0.27.2's TCDScheduler: from x_t it predicts x0 and ε, jumps to the
 * intermediate timestep s = floor((1 − γ)·t_prev) with them, and (γ > 0, not the last step)
 * re-noises from s up to t_prev with fresh noise. γ is diffusers' `eta` (0.3 by default); γ = 0
 * is deterministic. The last step returns the x_s estimate (s = 0) without drawing noise.
 *
 * Numerics follow torch: scalars are 0-d float32 tensors, element-wise ops round to float32.
 */
import type { RandomSource } from "../rng/random-source.js";
import { consistencyTimesteps } from "./lcm.js";
import { ddpmAddNoise, trainingAlphasCumprod } from "./noise-schedule.js";
import { extraNumber } from "./scheduler-config.js";
import type { PredictionType, Scheduler, SchedulerConfig } from "./types.js";

const f32 = Math.fround;

export class TCDScheduler implements Scheduler {
  readonly timesteps: Float64Array;
  readonly initNoiseSigma = 1;
  readonly order = 1;
  private readonly alphasCumprod: Float32Array;
  private readonly prediction: PredictionType;
  private readonly gamma: number;

  /** Options from config.extra: eta (γ, 0.3) and original_inference_steps (50). */
  constructor(config: SchedulerConfig, steps: number) {
    const gamma = extraNumber(config, "eta", 0.3);
    if (!(gamma >= 0 && gamma <= 1)) throw new Error(`TCD eta (gamma) must be in [0, 1], got ${gamma}`);
    this.gamma = gamma;
    this.alphasCumprod = trainingAlphasCumprod(config);
    this.prediction = config.predictionType;
    this.timesteps = consistencyTimesteps(config, steps);
  }

  scaleModelInput(sample: Float32Array, _index: number): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, rng: RandomSource): Float32Array {
    const isLast = index === this.timesteps.length - 1;
    const prevTimestep = isLast ? 0 : this.timesteps[index + 1];
    // torch: floor(float32(1 − γ) · t_prev) on a float32 tensor
    const timestepS = Math.floor(f32(f32(1 - this.gamma) * prevTimestep));

    const alphaProdT = this.alphasCumprod[this.timesteps[index]];
    const sqrtAlphaT = f32(Math.sqrt(alphaProdT));
    const sqrtBetaT = f32(Math.sqrt(f32(1 - alphaProdT)));
    const alphaProdPrev = this.alphasCumprod[prevTimestep];
    const alphaProdS = this.alphasCumprod[timestepS];
    const sqrtAlphaS = f32(Math.sqrt(alphaProdS));
    const sqrtBetaS = f32(Math.sqrt(f32(1 - alphaProdS)));

    const noisedAtS = new Float32Array(sample.length);
    for (let i = 0; i < noisedAtS.length; i++) {
      let x0: number;
      let eps: number;
      if (this.prediction === "epsilon") {
        x0 = f32(f32(sample[i] - f32(sqrtBetaT * modelOutput[i])) / sqrtAlphaT);
        eps = modelOutput[i];
      } else {
        x0 = f32(f32(sqrtAlphaT * sample[i]) - f32(sqrtBetaT * modelOutput[i]));
        eps = f32(f32(sqrtAlphaT * modelOutput[i]) + f32(sqrtBetaT * sample[i]));
      }
      noisedAtS[i] = f32(sqrtAlphaS * x0) + f32(sqrtBetaS * eps);
    }
    if (this.gamma === 0 || isLast) return noisedAtS;

    const ratio = f32(alphaProdPrev / alphaProdS);
    const cSample = f32(Math.sqrt(ratio));
    const cNoise = f32(Math.sqrt(f32(1 - ratio)));
    const noise = rng.randn([sample.length]);
    const next = new Float32Array(sample.length);
    for (let i = 0; i < next.length; i++) next[i] = f32(cSample * noisedAtS[i]) + f32(cNoise * noise[i]);
    return next;
  }

  /** DDPM-type: √ᾱ_t·x0 + √(1−ᾱ_t)·noise. */
  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    return ddpmAddNoise(this.alphasCumprod, original, noise, this.timesteps[index]);
  }
}
