/**
 * DDIM (Song et al. 2020) as diffusers 0.27.2's DDIMScheduler: epsilon and v-prediction, eta
 * (0 by default: deterministic), set_alpha_to_one, clip_sample. Numerics follow torch: ᾱ is a
 * float32 table and every scalar and element-wise op is float32.
 */
import type { RandomSource } from "../rng/random-source.js";
import { ddpmAddNoise, discreteTimesteps, trainingAlphasCumprod } from "./noise-schedule.js";
import { extraNumber, familyDefault, spacingFor } from "./scheduler-config.js";
import type { PredictionType, Scheduler, SchedulerConfig } from "./types.js";

const f32 = Math.fround;

export { ddpmAddNoise };

export class DdimScheduler implements Scheduler {
  readonly timesteps: Float64Array;
  readonly initNoiseSigma = 1;
  readonly order = 1;
  private readonly alphasCumprod: Float32Array;
  private readonly finalAlphaCumprod: number;
  private readonly prediction: PredictionType;
  private readonly eta: number;
  private readonly clipSample: boolean;
  private readonly clipRange: number;
  /** diffusers steps back by N // n whatever the spacing, so trailing/linspace keep that quirk. */
  private readonly stepRatio: number;

  constructor(config: SchedulerConfig, steps: number) {
    this.alphasCumprod = trainingAlphasCumprod(config);
    const setAlphaToOne = familyDefault(config, "set_alpha_to_one", config.setAlphaToOne, true);
    this.finalAlphaCumprod = setAlphaToOne ? 1 : this.alphasCumprod[0];
    this.prediction = config.predictionType;
    this.eta = extraNumber(config, "eta", 0);
    this.clipSample = familyDefault(config, "clip_sample", config.clipSample, true);
    this.clipRange = extraNumber(config, "clip_sample_range", 1);
    this.timesteps = discreteTimesteps(config, steps, spacingFor(config, "leading"));
    this.stepRatio = Math.floor(config.numTrainTimesteps / steps);
  }

  scaleModelInput(sample: Float32Array, _index: number): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, rng: RandomSource): Float32Array {
    const t = this.timesteps[index];
    const prevT = t - this.stepRatio;
    const alphaT = this.alphasCumprod[t];
    const alphaPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const betaT = f32(1 - alphaT);
    const sqrtAlphaT = f32(Math.sqrt(alphaT));
    const sqrtBetaT = f32(Math.sqrt(betaT));
    const n = sample.length;

    const x0 = new Float32Array(n);
    const eps = new Float32Array(n);
    if (this.prediction === "epsilon") {
      for (let i = 0; i < n; i++) {
        x0[i] = f32(sample[i] - f32(sqrtBetaT * modelOutput[i])) / sqrtAlphaT;
        eps[i] = modelOutput[i];
      }
    } else {
      for (let i = 0; i < n; i++) {
        x0[i] = f32(sqrtAlphaT * sample[i]) - f32(sqrtBetaT * modelOutput[i]);
        eps[i] = f32(sqrtAlphaT * modelOutput[i]) + f32(sqrtBetaT * sample[i]);
      }
    }
    if (this.clipSample) {
      for (let i = 0; i < n; i++) x0[i] = Math.min(Math.max(x0[i], -this.clipRange), this.clipRange);
    }

    // σ_t = η·sqrt((1−ᾱ_prev)/(1−ᾱ_t)·(1−ᾱ_t/ᾱ_prev))
    const betaPrev = f32(1 - alphaPrev);
    const variance = f32(f32(betaPrev / betaT) * f32(1 - f32(alphaT / alphaPrev)));
    const stdDev = f32(this.eta * f32(Math.sqrt(variance)));
    const directionScale = f32(Math.sqrt(f32(f32(1 - alphaPrev) - f32(stdDev * stdDev))));
    const sqrtAlphaPrev = f32(Math.sqrt(alphaPrev));

    const prev = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = f32(sqrtAlphaPrev * x0[i]) + f32(directionScale * eps[i]);
    }
    if (this.eta > 0) {
      const noise = rng.randn([n]);
      for (let i = 0; i < n; i++) prev[i] = prev[i] + f32(stdDev * noise[i]);
    }
    return prev;
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    return ddpmAddNoise(this.alphasCumprod, original, noise, this.timesteps[index]);
  }
}
