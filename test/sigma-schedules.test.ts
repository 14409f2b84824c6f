/**
 * Schedules apart from samplers (A1111 "Schedule type"): every formula against reference values
 * computed independently from k-diffusion's and AUTOMATIC1111's formulas, the beta quantile
 * against scipy, and the schedules reaching the σ-based sampler families.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { betaQuantile, lnGamma, regularizedIncompleteBeta } from "../src/schedulers/beta-quantile.js";
import {
  logSigmaTable,
  sigmaTableFloat32,
  sigmaToTimestep,
  trainingAlphasCumprod,
} from "../src/schedulers/noise-schedule.js";
import { createScheduler } from "../src/schedulers/registry.js";
import {
  alignYourStepsSchedule,
  betaSchedule,
  ddimSchedule,
  exponentialSchedule,
  karrasSchedule,
  klOptimalSchedule,
  normalSchedule,
  polyexponentialSchedule,
  simpleSchedule,
  uniformSchedule,
} from "../src/schedulers/schedule-formulas.js";
import { parseSchedulerConfig } from "../src/schedulers/scheduler-config.js";
import { findSchedule, resolveSchedule, SCHEDULES } from "../src/schedulers/sigma-schedules.js";
import { manifest } from "./helpers/fixtures.js";

const sd15 = () => parseSchedulerConfig(manifest().schedulers.base_config);
const table = () => sigmaTableFloat32(trainingAlphasCumprod(sd15()));

/** Fails with what was compared, the worst relative difference and where. */
function assertRelClose(
  actual: ArrayLike<number>,
  expected: readonly number[],
  tolerance: number,
  label: string,
) {
  assert.equal(
    actual.length,
    expected.length,
    `${label}: ${actual.length} values, expected ${expected.length}`,
  );
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const scale = Math.max(Math.abs(expected[i]), 1e-12);
    const d = Math.abs(actual[i] - expected[i]) / scale;
    if (!(d <= worst)) {
      worst = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
      at = i;
    }
  }
  assert.ok(
    worst <= tolerance,
    `${label}: max relative difference ${worst.toExponential(3)} > ${tolerance} at index ${at} (got ${actual[at]}, expected ${expected[at]})`,
  );
}

// Reference σ lists for SD1.5's training table: scripts/schedule-references.py, numpy 2.4 / scipy
// 1.17 transcriptions of k-diffusion (sampling.py get_sigmas_karras/_exponential/_polyexponential,
// external.py DiscreteSchedule.sigma_to_t/t_to_sigma) and A1111 modules/sd_schedulers.py
// (kl_optimal, get_align_your_steps_sigmas, beta_scheduler, uniform, sgm_uniform,
// normal_scheduler, simple_scheduler, ddim_scheduler). numpy builds the float32 table with its own
// linspace, so table values may differ from torch's by an ulp: 1e-6 relative.
const REF = {
  sigmaMin: 0.029167532920837402,
  sigmaMax: 14.614648818969727,
  karras4: [14.614648818969718, 3.1686113841361516, 0.4469209289159024, 0.029167532920837392, 0],
  exponential4: [14.614648818969728, 1.8400324759709974, 0.23166615596218193, 0.029167532920837406, 0],
  polyexponential5Rho2: [
    14.614648818969734, 0.9629130737960477, 0.13799770649397228, 0.04301725953308094, 0.029167532920837406, 0,
  ],
  klOptimal4: [
    14.614648818969735, 2.1427418814300303, 0.9615884213099481, 0.4198365333038621, 0.029167532920837402,
  ],
  alignYourSteps4: [14.614999999999997, 2.3938734813363083, 0.7425182963215853, 0.028999999999999998, 0],
  alignYourSteps11: [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029, 0],
  beta5: [
    14.614648818969727, 12.05226594380486, 7.321908175945284, 2.591550408085703, 0.029167532920837402, 0,
  ],
  uniform5: [
    14.614648818969728, 4.086083481332506, 1.6155812293724052, 0.6951500478732655, 0.029167532920837406, 0,
  ],
  sgmUniform4: [14.614648818969728, 4.086083481332506, 1.6155812293724052, 0.6951500478732655, 0],
  normal3: [14.614648818969728, 1.6155812293724052, 0.029167532920837406, 0],
  simple3: [14.614648818969727, 2.918308734893799, 0.9323583245277405, 0],
  ddim7: [
    14.265115737915039, 6.570652484893799, 3.485456943511963, 2.0473129749298096, 1.2720637321472168,
    0.7900615334510803, 0.4403095841407776, 0.04131447896361351, 0,
  ],
};
const TOL = 1e-6;

test("the training table's ends match the reference σ_min and σ_max", () => {
  const t = table();
  assertRelClose([t[0], t[t.length - 1]], [REF.sigmaMin, REF.sigmaMax], TOL, "σ_min, σ_max");
});

test("range schedules (Karras, Exponential, Polyexponential, KL Optimal, Beta) match k-diffusion/A1111", () => {
  const { sigmaMin: lo, sigmaMax: hi } = REF;
  assertRelClose(karrasSchedule(4, lo, hi), REF.karras4, 1e-12, "Karras 4 steps");
  assertRelClose(exponentialSchedule(4, lo, hi), REF.exponential4, 1e-12, "Exponential 4 steps");
  assertRelClose(
    polyexponentialSchedule(5, lo, hi, 2),
    REF.polyexponential5Rho2,
    1e-12,
    "Polyexponential ρ=2",
  );
  assertRelClose(klOptimalSchedule(4, lo, hi), REF.klOptimal4, 1e-12, "KL Optimal 4 steps");
  assertRelClose(betaSchedule(5, lo, hi), REF.beta5, 1e-12, "Beta(0.6, 0.6) 5 steps");
});

test("Polyexponential with ρ = 1 is Exponential; KL Optimal ends at σ_min, the others at 0", () => {
  const { sigmaMin: lo, sigmaMax: hi } = REF;
  assertRelClose(
    polyexponentialSchedule(7, lo, hi),
    Array.from(exponentialSchedule(7, lo, hi)),
    1e-14,
    "ρ=1",
  );
  // hand check of Exponential: consecutive ratios are all (σ_min/σ_max)^(1/(n−1))
  const e = exponentialSchedule(5, lo, hi);
  const ratio = (lo / hi) ** (1 / 4);
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(e[i + 1] / e[i] - ratio) < 1e-12, `ratio ${i}`);
  const kl = klOptimalSchedule(6, lo, hi);
  assert.equal(kl.length, 7);
  assert.ok(
    Math.abs(kl[6] - lo) < 1e-15 && Math.abs(kl[0] - hi) < 1e-12,
    "KL Optimal runs from σ_max to σ_min",
  );
  for (const entry of SCHEDULES.filter((s) => s.sigmas && s.name !== "kl_optimal")) {
    const sigmas = entry.sigmas!({ steps: 6, sigmaMin: lo, sigmaMax: hi, trainingSigmas: table() });
    assert.equal(sigmas[sigmas.length - 1], 0, `${entry.label} ends at 0`);
    for (let i = 1; i < sigmas.length; i++)
      assert.ok(sigmas[i] < sigmas[i - 1], `${entry.label} descends at ${i}`);
  }
});

test("Align Your Steps: the published SD1.5 σ at 11 steps, log-linear resampling otherwise", () => {
  assertRelClose(alignYourStepsSchedule(11), REF.alignYourSteps11, 0, "AYS 11 steps");
  assertRelClose(alignYourStepsSchedule(4), REF.alignYourSteps4, 1e-12, "AYS 4 steps");
});

test("table schedules (Uniform, SGM Uniform, Normal, Simple, DDIM) match k-diffusion/A1111", () => {
  const t = table();
  const lo = t[0];
  const hi = t[t.length - 1];
  assertRelClose(uniformSchedule(5, t), REF.uniform5, TOL, "Uniform 5 steps");
  assertRelClose(normalSchedule(4, lo, hi, t, true), REF.sgmUniform4, TOL, "SGM Uniform 4 steps");
  assertRelClose(normalSchedule(3, lo, hi, t), REF.normal3, TOL, "Normal 3 steps");
  assertRelClose(simpleSchedule(3, t), REF.simple3, TOL, "Simple 3 steps");
  // A1111's DDIM schedule takes every ⌊1000/7⌋ = 142nd σ from t = 1: 8 σ for 7 steps
  assertRelClose(ddimSchedule(7, t), REF.ddim7, TOL, "DDIM 7 steps");
  // Simple at 1000 steps is the whole table reversed
  const all = simpleSchedule(1000, t);
  assert.equal(all[0], t[999]);
  assert.equal(all[999], t[0]);
});

test("the beta quantile and incomplete beta match scipy, and hand-computable cases", () => {
  // scipy 1.17.1: stats.beta.ppf(p, a, b), special.betainc(a, b, x)
  const ppf: [number, number, number, number][] = [
    [1e-12, 0.6, 0.6, 1.8558824624914097e-20],
    [1e-6, 0.6, 0.6, 1.8558824624053043e-10],
    [0.01, 0.6, 0.6, 0.0008612388215429059],
    [0.25, 0.6, 0.6, 0.17568037865269498],
    [0.75, 0.6, 0.6, 0.824319621347305],
    [0.999999, 0.6, 0.6, 0.9999999998144118],
    [0.2, 2, 5, 0.1398806882699578],
    [0.9, 0.5, 3, 0.38624888180536926],
    [0.05, 1.5, 0.7, 0.17886119403661577],
    [0.3, 10, 10, 0.4408425817959108],
  ];
  for (const [p, a, b, x] of ppf)
    assertRelClose([betaQuantile(p, a, b)], [x], 1e-13, `ppf(${p}, ${a}, ${b})`);
  assertRelClose([regularizedIncompleteBeta(0.3, 0.6, 0.6)], [0.35252651177214367], 1e-13, "I_0.3(0.6, 0.6)");
  // by hand: I_x(1, 1) = x; I_0.5(10, 3) = Σ_{j=10}^{12} C(12, j)/2^12 = (66 + 12 + 1)/4096
  assertRelClose([regularizedIncompleteBeta(0.37, 1, 1)], [0.37], 1e-14, "I_x(1, 1)");
  assertRelClose([regularizedIncompleteBeta(0.5, 10, 3)], [79 / 4096], 1e-13, "I_0.5(10, 3)");
  // symmetric Beta: the median is 1/2; ends are exact
  assertRelClose([betaQuantile(0.5, 0.6, 0.6)], [0.5], 1e-14, "median");
  assert.deepEqual([betaQuantile(0, 0.6, 0.6), betaQuantile(1, 0.6, 0.6)], [0, 1]);
  assertRelClose(
    [lnGamma(5), lnGamma(0.5)],
    [Math.log(24), 0.5 * Math.log(Math.PI)],
    1e-14,
    "lnΓ(5), lnΓ(1/2)",
  );
  assert.throws(() => betaQuantile(1.5, 0.6, 0.6), /p must lie in \[0, 1\]/);
  assert.throws(() => betaQuantile(0.5, 0, 0.6), /must be positive/);
});

test("schedule names, labels and aliases resolve in any case; unknown ones list the choices", () => {
  for (const [spelling, name] of [
    ["SGM Uniform", "sgm_uniform"],
    ["sgm_uniform", "sgm_uniform"],
    ["SGMUniform", "sgm_uniform"],
    ["kl optimal", "kl_optimal"],
    ["AYS", "align_your_steps"],
    ["Align Your Steps", "align_your_steps"],
    ["automatic", "automatic"],
    ["", "automatic"],
    ["discrete", "automatic"],
    ["ddim_uniform", "ddim"],
    ["BETA", "beta"],
  ]) {
    assert.equal(findSchedule(spelling)?.name, name, spelling);
  }
  assert.throws(
    () => resolveSchedule("cosine"),
    /unknown schedule type "cosine"; valid choices: Automatic, Uniform, Karras, Exponential, Polyexponential, SGM Uniform, KL Optimal, Align Your Steps, Simple, Normal, DDIM, Beta/,
  );
});

test("DPM++ 2M takes any schedule: σ of the schedule, timesteps rounded from σ, final 0", () => {
  const t = table();
  const logs = logSigmaTable(t);
  const cases: [string, number, readonly number[]][] = [
    ["Exponential", 4, REF.exponential4],
    ["Karras", 4, REF.karras4],
    ["SGM Uniform", 4, REF.sgmUniform4],
    ["Beta", 5, REF.beta5],
    ["Align Your Steps", 4, REF.alignYourSteps4],
  ];
  for (const [schedule, steps, expected] of cases) {
    const s = createScheduler("DPM++ 2M", sd15(), steps, { scheduleType: schedule });
    assertRelClose(s.sigmas!, expected, TOL, `DPM++ 2M ${schedule} sigmas`);
    // the model sees the nearest integer timestep of each σ (sigma_to_t, rounded half to even)
    expected.slice(0, -1).forEach((sigma, i) => {
      const t = sigmaToTimestep(sigma, logs);
      assert.ok(
        Number.isInteger(s.timesteps[i]) && Math.abs(s.timesteps[i] - t) <= 0.5 + 1e-3,
        `DPM++ 2M ${schedule} timestep ${i}: ${s.timesteps[i]} for t = ${t}`,
      );
    });
  }
  // KL Optimal keeps its σ_min end instead of diffusers' final 0
  const kl = createScheduler("DPM++ 2M", sd15(), 4, { scheduleType: "KL Optimal" });
  assertRelClose(kl.sigmas!, REF.klOptimal4, TOL, "DPM++ 2M KL Optimal sigmas");
});

test("the Euler family, Euler a included, takes any schedule; Heun repeats it", () => {
  const t = table();
  const logs = logSigmaTable(t);
  for (const sampler of ["Euler", "Euler a", "LMS"]) {
    const s = createScheduler(sampler, sd15(), 4, { scheduleType: "Exponential" });
    assertRelClose(s.sigmas!, REF.exponential4, TOL, `${sampler} Exponential sigmas`);
    const expected = REF.exponential4.slice(0, -1).map((sigma) => Math.fround(sigmaToTimestep(sigma, logs)));
    assertRelClose(s.timesteps, expected, 1e-6, `${sampler} Exponential timesteps`);
    assertRelClose([s.initNoiseSigma], [REF.exponential4[0]], TOL, `${sampler} init noise σ = σ_max`);
  }
  const heun = createScheduler("Heun", sd15(), 3, { scheduleType: "Simple" });
  const [a, b, c] = REF.simple3.map(Math.fround);
  assertRelClose(heun.sigmas!, [a, b, b, c, c, 0], TOL, "Heun Simple sigmas (each after the first twice)");
  // A1111's DDIM schedule decides the step count: 7 steps run 8 σ
  const ddim = createScheduler("Euler", sd15(), 7, { scheduleType: "DDIM" });
  assert.equal(ddim.timesteps.length, 8);
  assertRelClose(ddim.sigmas!, REF.ddim7, TOL, "Euler DDIM-schedule sigmas");
});

test("Automatic keeps every family's own diffusers schedule; Uniform is k-diffusion's, not diffusers'", () => {
  for (const sampler of ["Euler", "Euler a", "DPM++ 2M", "DDIM", "UniPC", "LCM"]) {
    const plain = createScheduler(sampler, sd15(), 5);
    const automatic = createScheduler(sampler, sd15(), 5, { scheduleType: "Automatic" });
    assert.deepEqual(Array.from(automatic.timesteps), Array.from(plain.timesteps), sampler);
    assert.deepEqual(Array.from(automatic.sigmas ?? []), Array.from(plain.sigmas ?? []), sampler);
  }
  // diffusers interpolates σ linearly in t, k-diffusion in log σ: same ends, different middle
  const euler = createScheduler("Euler", sd15(), 5);
  const uniform = createScheduler("Euler", sd15(), 5, { scheduleType: "Uniform" });
  assert.equal(uniform.sigmas![0], euler.sigmas![0]);
  assert.notEqual(uniform.sigmas![2], euler.sigmas![2]);
  assertRelClose(uniform.sigmas!, REF.uniform5, TOL, "Euler Uniform sigmas");
});
