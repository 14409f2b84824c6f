/**
 * PLMS (pseudo linear multistep, Liu et al. 2022) as diffusers 0.27.2's PNDMScheduler with
 * skip_prk_steps: the schedule repeats its second timestep (n+1 model calls), the first two calls
 * form one 2nd-order step, then Adams–Bashforth of order 2, 3 and 4 as history accumulates.
 */
import type { RandomSource } from "../rng/random-source.js";
import { ddpmAddNoise, discreteTimesteps, trainingAlphasCumprod } from "./noise-schedule.js";
import { familyDefault, spacingFor } from "./scheduler-config.js";
import type { PredictionType, Scheduler, SchedulerConfig } from "./types.js";

const f32 = Math.fround;
const ONE_24TH = f32(1 / 24);

export class PndmScheduler implements Scheduler {
  readonly timesteps: Float64Array;
  readonly initNoiseSigma = 1;
  readonly order = 1;
  private readonly alphasCumprod: Float32Array;
  private readonly finalAlphaCumprod: number;
  private readonly prediction: PredictionType;
  private readonly stepRatio: number;
  /** Past model outputs (newest last, at most 4), the call counter and the sample held across the warm-up pair. */
  private ets: Float32Array[] = [];
  private counter = 0;
  private curSample: Float32Array | undefined;

  constructor(config: SchedulerConfig, steps: number) {
    this.alphasCumprod = trainingAlphasCumprod(config);
    const setAlphaToOne = familyDefault(config, "set_alpha_to_one", config.setAlphaToOne, false);
    this.finalAlphaCumprod = setAlphaToOne ? 1 : this.alphasCumprod[0];
    this.prediction = config.predictionType;
    this.stepRatio = Math.floor(config.numTrainTimesteps / steps);
    // ascending T, then reverse(T[:-1] + [T[-2]] + [T[-1]]): the second entry is duplicated
    const ascending = discreteTimesteps(config, steps, spacingFor(config, "leading")).reverse();
    const m = ascending.length;
    const plms = [
      ...ascending.subarray(0, m - 1),
      ...ascending.subarray(Math.max(m - 2, 0), m - 1),
      ascending[m - 1],
    ];
    this.timesteps = Float64Array.from(plms.reverse());
  }

  scaleModelInput(sample: Float32Array, _index: number): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, _rng: RandomSource): Float32Array {
    let t = this.timesteps[index];
    let prevT = t - this.stepRatio;
    const n = sample.length;
    if (this.counter !== 1) {
      this.ets = this.ets.slice(-3);
      this.ets.push(modelOutput);
    } else {
      // second call of the warm-up pair: redo the first step from the same sample
      prevT = t;
      t = t + this.stepRatio;
    }

    let output: Float32Array;
    const e = this.ets;
    const k = e.length;
    if (k === 1 && this.counter === 0) {
      output = modelOutput;
      this.curSample = sample;
    } else if (k === 1 && this.counter === 1) {
      output = new Float32Array(n);
      for (let i = 0; i < n; i++) output[i] = f32(f32(modelOutput[i] + e[0][i]) / 2);
      sample = this.curSample ?? sample;
      this.curSample = undefined;
    } else if (k === 2) {
      output = new Float32Array(n);
      for (let i = 0; i < n; i++) output[i] = f32(f32(f32(3 * e[1][i]) - e[0][i]) / 2);
    } else if (k === 3) {
      output = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        output[i] = f32(f32(f32(f32(23 * e[2][i]) - f32(16 * e[1][i])) + f32(5 * e[0][i])) / 12);
      }
    } else {
      output = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const sum = f32(
          f32(f32(f32(55 * e[3][i]) - f32(59 * e[2][i])) + f32(37 * e[1][i])) - f32(9 * e[0][i]),
        );
        output[i] = f32(ONE_24TH * sum);
      }
    }

    const prev = this.previousSample(sample, t, prevT, output);
    this.counter++;
    return prev;
  }

  /** Formula (9) of the PNDM paper: x_{t−δ} from x_t and the combined ε. */
  private previousSample(
    sample: Float32Array,
    t: number,
    prevT: number,
    modelOutput: Float32Array,
  ): Float32Array {
    const alphaT = this.alphasCumprod[t];
    const alphaPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const betaT = f32(1 - alphaT);
    const betaPrev = f32(1 - alphaPrev);
    const n = sample.length;
    let eps = modelOutput;
    if (this.prediction === "v_prediction") {
      const sa = f32(Math.sqrt(alphaT));
      const sb = f32(Math.sqrt(betaT));
      eps = new Float32Array(n);
      for (let i = 0; i < n; i++) eps[i] = f32(sa * modelOutput[i]) + f32(sb * sample[i]);
    }
    const sampleCoeff = f32(Math.sqrt(f32(alphaPrev / alphaT)));
    const denom = f32(
      f32(alphaT * f32(Math.sqrt(betaPrev))) + f32(Math.sqrt(f32(f32(alphaT * betaT) * alphaPrev))),
    );
    const diff = f32(alphaPrev - alphaT);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = f32(sampleCoeff * sample[i]) - f32(f32(diff * eps[i]) / denom);
    }
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    return ddpmAddNoise(this.alphasCumprod, original, noise, this.timesteps[index]);
  }
}
