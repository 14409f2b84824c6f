/**
 * DPM++ 2M (Karras), DPM++ 2M SDE Karras, UniPC, LCM and TCD against diffusers 0.27.2
 * (fixtures README 4.6): every manifest trajectory of these samplers (all step counts and
 * spacings), their img2img and add_noise cases, built through the registry the way the pipeline
 * builds them. Plus properties the goldens cannot show: v-prediction, where noise is drawn,
 * registry spellings and rejected options.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RandomSource } from "../src/rng/random-source.js";
import { TorchCpuGenerator } from "../src/rng/torch-cpu-generator.js";
import { sigmaTableFloat32, trainingAlphasCumprod } from "../src/schedulers/noise-schedule.js";
import { createScheduler, resolveSampler } from "../src/schedulers/registry.js";
import { parseSchedulerConfig } from "../src/schedulers/scheduler-config.js";
import type { Scheduler, SchedulerConfig } from "../src/schedulers/types.js";
import { assertClose, maxAbs } from "./helpers/assert-close.js";
import { manifest } from "./helpers/fixtures.js";
import {
  addNoiseCases,
  checkAddNoise,
  checkImg2Img,
  checkTrajectory,
  img2imgCases,
  toyModel,
  trajectoryCases,
} from "./helpers/scheduler-harness.js";

const LATENT_SHAPE = [1, 4, 8, 8] as const;
const SAMPLERS = ["DPM++ 2M", "DPM++ 2M Karras", "DPM++ 2M SDE Karras", "UniPC", "LCM", "TCD"];
const worstBySampler = new Map<string, number>();

function record(key: string, relative: number): void {
  worstBySampler.set(key, Math.max(worstBySampler.get(key) ?? 0, relative));
}

test("the manifest has trajectories for every step count of all six samplers", () => {
  for (const sampler of SAMPLERS) {
    const steps = new Set(trajectoryCases([sampler]).map((c) => c.steps));
    assert.deepEqual(
      [...steps].sort((a, b) => a - b),
      [1, 2, 4, 8, 20],
      `${sampler} step counts`,
    );
  }
});

for (const c of trajectoryCases(SAMPLERS)) {
  test(`trajectory ${c.id}`, () => {
    const report = checkTrajectory(c);
    record(c.sampler, Math.max(report.samples, report.modelInputs));
    if (c.sigmas) record(`${c.sampler} sigmas`, report.sigmas);
  });
}

for (const c of img2imgCases(SAMPLERS)) {
  test(`img2img ${c.id}`, () => {
    const report = checkImg2Img(c);
    record(c.id, Math.max(report.samples, report.modelInputs));
  });
}

for (const c of addNoiseCases(SAMPLERS)) {
  test(`add_noise ${c.id}`, () => record(c.id, checkAddNoise(c)));
}

test("max relative error per sampler (diagnostics)", (t) => {
  for (const [key, worst] of worstBySampler) t.diagnostic(`${key}: ${worst.toExponential(2)}`);
  assert.ok(worstBySampler.size >= SAMPLERS.length, "the golden tests ran first");
});

/** SD1.5's scheduler_config.json with overrides, parsed like a model's file. */
function sdConfig(overrides: Record<string, unknown> = {}): SchedulerConfig {
  return parseSchedulerConfig({ ...manifest().schedulers.base_config, ...overrides });
}

/** A RandomSource that counts draws and hands out fixed noise. */
class CountingSource implements RandomSource {
  draws = 0;
  private readonly inner = new TorchCpuGenerator(7);
  randn(shape: readonly number[]): Float32Array {
    this.draws++;
    return this.inner.randn(shape);
  }
}

function runToy(scheduler: Scheduler, rng: RandomSource, vPrediction = false): Float32Array {
  let x = new TorchCpuGenerator(1234).randn(LATENT_SHAPE);
  const alphaSigma = vPrediction ? alphaSigmaPerStep(scheduler) : [];
  for (let i = 0; i < scheduler.timesteps.length; i++) {
    const input = scheduler.scaleModelInput(x, i);
    let output = toyModel(input, scheduler.timesteps[i]);
    if (vPrediction) {
      // the same model expressed as v = α·ε − σ·x0 with x0 = (x − σ·ε)/α
      const [alpha, sigma] = alphaSigma[i];
      output = output.map((eps, j) => alpha * eps - sigma * ((input[j] - sigma * eps) / alpha));
    }
    x = scheduler.step(output, i, x, rng);
  }
  return x;
}

/** (α_t, σ_t) at each step from the scheduler's σ, or the training table's (VP: α = 1/√(σ²+1)). */
function alphaSigmaPerStep(scheduler: Scheduler): [number, number][] {
  const table = sigmaTableFloat32(trainingAlphasCumprod(sdConfig()));
  return Array.from(scheduler.timesteps, (t, i) => {
    const sigma = scheduler.sigmas?.[i] ?? table[t];
    const alpha = 1 / Math.sqrt(sigma * sigma + 1);
    return [alpha, sigma * alpha];
  });
}

for (const name of ["DPM++ 2M", "DPM++ 2M Karras", "DPM++ 2M SDE Karras", "UniPC", "LCM", "TCD"]) {
  test(`${name}: v-prediction of the same model gives the epsilon trajectory`, () => {
    for (const steps of [4, 8]) {
      const eps = runToy(createScheduler(name, sdConfig(), steps), new TorchCpuGenerator(99));
      const vScheduler = createScheduler(name, sdConfig({ prediction_type: "v_prediction" }), steps);
      const v = runToy(vScheduler, new TorchCpuGenerator(99), true);
      assertClose(v, eps, 1e-4 * Math.max(1, maxAbs(eps)), `${name} ${steps} steps v vs eps`);
    }
  });
}

test("noise draws: SDE every step, LCM/TCD all but the last, ODE samplers none", () => {
  const expected: [string, (steps: number) => number][] = [
    ["DPM++ 2M", () => 0],
    ["DPM++ 2M Karras", () => 0],
    ["DPM++ 2M SDE", (n) => n],
    ["DPM++ 2M SDE Karras", (n) => n],
    ["UniPC", () => 0],
    ["LCM", (n) => n - 1],
    ["TCD", (n) => n - 1],
  ];
  for (const [name, draws] of expected) {
    for (const steps of [1, 5]) {
      const rng = new CountingSource();
      runToy(createScheduler(name, sdConfig(), steps), rng);
      assert.equal(rng.draws, draws(steps), `${name}, ${steps} steps: noise draws`);
    }
  }
  const deterministic = new CountingSource();
  runToy(createScheduler("TCD", sdConfig(), 4, { eta: 0 }), deterministic);
  assert.equal(deterministic.draws, 0, "TCD with eta 0 is deterministic");
});

test("DPM++ 2M SDE without Karras uses the spaced schedule and differs from the ODE solver", () => {
  const sde = createScheduler("DPM++ 2M SDE", sdConfig(), 4);
  const ode = createScheduler("DPM++ 2M", sdConfig(), 4);
  assert.deepEqual(Array.from(sde.timesteps), [999, 749, 500, 250]);
  assert.deepEqual(Array.from(sde.timesteps), Array.from(ode.timesteps));
  const a = runToy(sde, new TorchCpuGenerator(5));
  const b = runToy(ode, new TorchCpuGenerator(5));
  assert.ok(Math.abs(a[0] - b[0]) > 1e-3, "SDE noise changes the result");
});

test("registry: every spelling resolves to these families with the A1111 label", () => {
  const cases: [string, string][] = [
    ["DPM++ 2M", "DPM++ 2M"],
    ["k_dpmpp_2m", "DPM++ 2M"],
    ["dpmpp_2m", "DPM++ 2M"],
    ["dpm++2m", "DPM++ 2M"],
    ["DPMSolverMultistepScheduler", "DPM++ 2M"],
    ["k_dpmpp_2m_ka", "DPM++ 2M Karras"],
    ["DPM++ 2M Karras", "DPM++ 2M Karras"],
    ["DPM++ 2M SDE", "DPM++ 2M SDE"],
    ["dpmpp_2m_sde", "DPM++ 2M SDE"],
    ["k_dpmpp_2m_sde_ka", "DPM++ 2M SDE Karras"],
    ["DPM++ 2M SDE Karras", "DPM++ 2M SDE Karras"],
    ["UniPC", "UniPC"],
    ["uni_pc", "UniPC"],
    ["UniPCMultistepScheduler", "UniPC"],
    ["LCM", "LCM"],
    ["lcm", "LCM"],
    ["LCMScheduler", "LCM"],
    ["TCD", "TCD"],
    ["TCDScheduler", "TCD"],
  ];
  for (const [name, label] of cases) assert.equal(resolveSampler(name).label, label, name);
  assert.equal(resolveSampler("dpmpp_2m", { scheduleType: "Karras" }).label, "DPM++ 2M Karras");
});

test("unsupported options fail with a clear message", () => {
  assert.throws(() => createScheduler("LCM", sdConfig(), 51), /1\.\.50/);
  assert.throws(() => createScheduler("DPM++ 2M", sdConfig({ solver_order: 3 }), 8), /solver_order 2/);
  assert.throws(() => createScheduler("DPM++ 2M", sdConfig({ solver_type: "heun" }), 8), /midpoint/);
  assert.throws(() => createScheduler("UniPC", sdConfig({ solver_type: "bh1" }), 8), /bh2/);
  assert.throws(() => createScheduler("TCD", sdConfig(), 4, { eta: 1.5 }), /\[0, 1\]/);
  // a DPM-Solver file's solver_type means bh2 to UniPC, as in diffusers
  assert.doesNotThrow(() => createScheduler("UniPC", sdConfig({ solver_type: "midpoint" }), 8));
});
