/**
 * The toy-model trajectory protocol of fixtures README 4.6, shared by every sampler's tests:
 *
 *   gen = torch CPU generator(seed); x = randn([1,4,8,8], gen) * init_noise_sigma
 *   for i, t: x_in = scale_model_input(x, i); eps = toy(x_in, t); x = step(eps, i, x, gen)
 *
 * Each check asserts against the goldens (timesteps exact, sigmas 1e-6 relative, tensors
 * 1e-5 × max(1, max|golden|)) and returns the worst relative error it saw, for reporting.
 *
 * Use: `for (const c of trajectoryCases(["DDIM"])) test(c.id, () => checkTrajectory(c))`.
 * By default schedulers come from the registry (createScheduler(c.sampler, config, steps));
 * pass a factory to test a family directly.
 */
import assert from "node:assert/strict";
import { TorchCpuGenerator } from "../../src/rng/torch-cpu-generator.js";
import { img2imgStart } from "../../src/schedulers/img2img.js";
import { createScheduler } from "../../src/schedulers/registry.js";
import { parseSchedulerConfig } from "../../src/schedulers/scheduler-config.js";
import type { Scheduler, SchedulerConfig } from "../../src/schedulers/types.js";
import { maxAbs, maxDifference } from "./assert-close.js";
import { golden, manifest } from "./fixtures.js";

const f32 = Math.fround;
const LATENT_SHAPE = [1, 4, 8, 8] as const;
const LATENT_SIZE = 4 * 8 * 8;
/** Suggested tolerances (fixtures README section 2 / manifest.schedulers.tolerance). */
export const SAMPLE_TOLERANCE = 1e-5;
export const SIGMA_TOLERANCE = 1e-6;
/** torch randn goldens, numel >= 16 (float32 libm differences). */
export const RNG_TOLERANCE = 5e-6;

export type SchedulerMaker = (sampler: string, config: SchedulerConfig, steps: number) => Scheduler;

/** The registry's scheduler for a manifest sampler name (e.g. "DPM++ 2M SDE Karras", "PNDM"). */
export const registryScheduler: SchedulerMaker = (sampler, config, steps) =>
  createScheduler(sampler, config, steps);

// biome-ignore lint/suspicious/noExplicitAny: manifest entries are free-form JSON
type ManifestCase = any;

function schedulerManifest(): ManifestCase {
  return manifest().schedulers;
}

function schedulerGoldens() {
  return golden("schedulers");
}

/** Trajectory cases of the manifest whose sampler is in `samplers` (all if omitted). */
export function trajectoryCases(samplers?: readonly string[]): ManifestCase[] {
  const all: ManifestCase[] = schedulerManifest().trajectories;
  return samplers ? all.filter((c) => samplers.includes(c.sampler)) : all;
}

export function img2imgCases(samplers?: readonly string[]): ManifestCase[] {
  const all: ManifestCase[] = schedulerManifest().img2img;
  return samplers ? all.filter((c) => samplers.includes(c.sampler)) : all;
}

export function addNoiseCases(samplers?: readonly string[]): ManifestCase[] {
  const all: ManifestCase[] = schedulerManifest().add_noise;
  return samplers ? all.filter((c) => samplers.includes(c.sampler)) : all;
}

/** The config a case was built with: SD1.5's file overlaid with the case's full resulting config. */
export function caseConfig(c: ManifestCase): SchedulerConfig {
  const base = schedulerManifest().base_config as Record<string, unknown>;
  return parseSchedulerConfig({ ...base, ...(c.config ?? {}) });
}

/** eps = f32(0.3·cos(t/1000))·x_in + f32(0.05·sin(t/100)), coefficients from float64 t, math in float32. */
export function toyModel(xIn: Float32Array, t: number): Float32Array {
  const a = f32(0.3 * Math.cos(t / 1000));
  const b = f32(0.05 * Math.sin(t / 100));
  return xIn.map((x) => f32(a * x) + b);
}

/** Slice i of a stacked golden tensor [N, ...] whose items have `size` elements. */
function item(stack: Float32Array, i: number, size: number): Float32Array {
  return stack.subarray(i * size, (i + 1) * size);
}

/** Worst error relative to max(1, max|golden|), asserting it stays within `tolerance`. */
export function assertRelativeClose(
  actual: Float32Array,
  expected: Float32Array,
  tolerance: number,
  label: string,
): number {
  assert.equal(actual.length, expected.length, `${label}: length ${actual.length} != ${expected.length}`);
  const scale = Math.max(1, maxAbs(expected));
  const diff = maxDifference(actual, expected);
  const relative = diff.maxAbs / scale;
  assert.ok(
    relative <= tolerance,
    `${label}: max |diff| ${diff.maxAbs.toExponential(3)} (${relative.toExponential(3)} of max(1, max|golden|) = ${scale.toPrecision(4)}) > ${tolerance} at element ${diff.index} (got ${diff.actual}, expected ${diff.expected})`,
  );
  return relative;
}

function assertTimesteps(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  assert.deepEqual(
    Array.from(actual),
    Array.from(expected),
    `${label}: timesteps differ (must match exactly)`,
  );
}

/** Worst relative sigma error; asserts 1e-6 relative per element. */
function assertSigmas(actual: ArrayLike<number> | undefined, expected: Float32Array, label: string): number {
  assert.ok(actual, `${label}: scheduler has no sigmas but the golden does`);
  assert.equal(
    actual.length,
    expected.length,
    `${label}: ${actual.length} sigmas, golden has ${expected.length}`,
  );
  let worst = 0;
  let where = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    const rel = e === 0 ? Math.abs(actual[i]) : Math.abs(actual[i] - e) / Math.abs(e);
    if (!(rel <= worst)) {
      worst = Number.isNaN(rel) ? Number.POSITIVE_INFINITY : rel;
      where = i;
    }
  }
  assert.ok(
    worst <= SIGMA_TOLERANCE,
    `${label}: sigma ${where} relative error ${worst.toExponential(3)} > ${SIGMA_TOLERANCE} (got ${actual[where]}, expected ${expected[where]})`,
  );
  return worst;
}

export interface TrajectoryReport {
  id: string;
  sampler: string;
  /** Worst relative error over samples[i] (relative to max(1, max|golden_i|)). */
  samples: number;
  /** Worst relative error over model_inputs[i]. */
  modelInputs: number;
  /** Worst relative sigma error (0 when the sampler has no sigmas). */
  sigmas: number;
}

/**
 * Runs the sampler from `start` (0 for txt2img, begin_index for img2img) and checks model inputs
 * and samples step by step against the stacked goldens.
 */
function runAndCheck(
  scheduler: Scheduler,
  x: Float32Array,
  start: number,
  gen: TorchCpuGenerator,
  goldenInputs: Float32Array,
  goldenSamples: Float32Array,
  label: string,
): { samples: number; modelInputs: number } {
  let worstSample = 0;
  let worstInput = 0;
  const calls = scheduler.timesteps.length - start;
  assert.equal(
    goldenSamples.length,
    calls * LATENT_SIZE,
    `${label}: ${calls} model calls, golden has ${goldenSamples.length / LATENT_SIZE}`,
  );
  for (let k = 0; k < calls; k++) {
    const i = start + k;
    const t = scheduler.timesteps[i];
    const xIn = scheduler.scaleModelInput(x, i);
    worstInput = Math.max(
      worstInput,
      assertRelativeClose(
        xIn,
        item(goldenInputs, k, LATENT_SIZE),
        SAMPLE_TOLERANCE,
        `${label} model_inputs[${k}] (t=${t})`,
      ),
    );
    x = scheduler.step(toyModel(xIn, t), i, x, gen);
    worstSample = Math.max(
      worstSample,
      assertRelativeClose(
        x,
        item(goldenSamples, k, LATENT_SIZE),
        SAMPLE_TOLERANCE,
        `${label} samples[${k}] (t=${t})`,
      ),
    );
  }
  return { samples: worstSample, modelInputs: worstInput };
}

/** One full trajectory case: timesteps, sigmas, init noise, every model input and sample. */
export function checkTrajectory(c: ManifestCase, make: SchedulerMaker = registryScheduler): TrajectoryReport {
  const g = schedulerGoldens();
  const scheduler = make(c.sampler, caseConfig(c), c.steps);
  assertTimesteps(scheduler.timesteps, g.readF64(c.timesteps), c.id);
  assert.equal(scheduler.order, c.order, `${c.id}: order`);
  assert.equal(scheduler.initNoiseSigma, c.init_noise_sigma, `${c.id}: init_noise_sigma`);
  const sigmas = c.sigmas ? assertSigmas(scheduler.sigmas, g.readF32(c.sigmas), c.id) : 0;

  const gen = new TorchCpuGenerator(c.seed);
  const noise = gen.randn(LATENT_SHAPE);
  assertRelativeClose(
    noise,
    g.readF32(c.initial_noise),
    RNG_TOLERANCE,
    `${c.id} initial_noise (torch randn, seed ${c.seed})`,
  );
  const sigma0 = f32(scheduler.initNoiseSigma);
  const x = noise.map((v) => v * sigma0);
  assertRelativeClose(x, g.readF32(c.x_T), SAMPLE_TOLERANCE, `${c.id} x_T`);

  const errors = runAndCheck(scheduler, x, 0, gen, g.readF32(c.model_inputs), g.readF32(c.samples), c.id);
  return { id: c.id, sampler: c.sampler, sigmas, ...errors };
}

/** An img2img case: truncation for the strength, add_noise at the start, then the trajectory. */
export function checkImg2Img(c: ManifestCase, make: SchedulerMaker = registryScheduler): TrajectoryReport {
  const g = schedulerGoldens();
  const scheduler = make(c.sampler, caseConfig(c), c.steps);
  assertTimesteps(scheduler.timesteps, c.full_timesteps, `${c.id} full schedule`);
  const start = img2imgStart(scheduler, c.steps, c.strength);
  assert.equal(start.initTimestep, c.init_timestep, `${c.id}: init_timestep`);
  assert.equal(start.startIndex, c.t_start * c.order, `${c.id}: start index (t_start·order)`);
  if (c.begin_index !== null) assert.equal(start.startIndex, c.begin_index, `${c.id}: begin_index`);
  assert.equal(start.effectiveSteps, c.num_inference_steps_effective, `${c.id}: effective steps`);
  assert.equal(start.latentTimestep, c.latent_timestep, `${c.id}: latent timestep`);
  assertTimesteps(
    scheduler.timesteps.subarray(start.startIndex),
    c.timesteps_after_truncation,
    `${c.id} truncated`,
  );

  const gen = new TorchCpuGenerator(c.seed);
  const xInit = gen.randn(LATENT_SHAPE);
  const noise = gen.randn(LATENT_SHAPE);
  assertRelativeClose(xInit, g.readF32(c.x_init), RNG_TOLERANCE, `${c.id} x_init (torch randn)`);
  assertRelativeClose(noise, g.readF32(c.noise), RNG_TOLERANCE, `${c.id} noise (torch randn)`);
  const noised = scheduler.addNoise(xInit, noise, start.startIndex);
  const noisedError = assertRelativeClose(noised, g.readF32(c.noised), SAMPLE_TOLERANCE, `${c.id} noised`);

  const errors = runAndCheck(
    scheduler,
    noised,
    start.startIndex,
    gen,
    g.readF32(c.model_inputs),
    g.readF32(c.samples),
    c.id,
  );
  return {
    id: c.id,
    sampler: c.sampler,
    sigmas: 0,
    samples: Math.max(errors.samples, noisedError),
    modelInputs: errors.modelInputs,
  };
}

/**
 * diffusers' index_for_timestep: the position of `t` in the schedule, the second one when it
 * occurs twice (Heun), so a start in mid-schedule does not skip a sigma.
 */
export function indexForTimestep(timesteps: ArrayLike<number>, t: number): number {
  const hits: number[] = [];
  for (let i = 0; i < timesteps.length; i++) if (timesteps[i] === t) hits.push(i);
  assert.ok(hits.length > 0, `timestep ${t} is not in the schedule [${Array.from(timesteps).join(", ")}]`);
  return hits.length > 1 ? hits[1] : hits[0];
}

/**
 * An add_noise case: noised[i] = add_noise(x0, noise, timesteps[i]). With set_timesteps null
 * (DDPM-type, any training timestep) the scheduler is built with one step per training timestep
 * and trailing spacing, whose schedule is N−1 … 0, so every timestep has a position.
 */
export function checkAddNoise(c: ManifestCase, make: SchedulerMaker = registryScheduler): number {
  const g = schedulerGoldens();
  const config = caseConfig(c);
  const scheduler =
    c.set_timesteps === null
      ? make(c.sampler, { ...config, timestepSpacing: "trailing" }, config.numTrainTimesteps)
      : make(c.sampler, config, c.set_timesteps);
  const gen = new TorchCpuGenerator(c.seed);
  const x0 = gen.randn(LATENT_SHAPE);
  const noise = gen.randn(LATENT_SHAPE);
  assertRelativeClose(x0, g.readF32(c.x0), RNG_TOLERANCE, `${c.id} x0 (torch randn)`);
  assertRelativeClose(noise, g.readF32(c.noise), RNG_TOLERANCE, `${c.id} noise (torch randn)`);
  const expected = g.readF32(c.noised);
  let worst = 0;
  c.timesteps.forEach((t: number, k: number) => {
    const index = indexForTimestep(scheduler.timesteps, t);
    const noised = scheduler.addNoise(x0, noise, index);
    worst = Math.max(
      worst,
      assertRelativeClose(
        noised,
        item(expected, k, LATENT_SIZE),
        SAMPLE_TOLERANCE,
        `${c.id} noised[${k}] (t=${t})`,
      ),
    );
  });
  return worst;
}
