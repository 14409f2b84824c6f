/**
 * Sampler families DDIM, PNDM (PLMS), Euler, Euler Karras, Euler a, Heun and LMS against diffusers
 * 0.27.2 goldens with the toy-model protocol (fixtures README 4.6): every trajectory of the
 * manifest for these samplers, plus their img2img and add_noise cases. The stochastic samplers
 * draw from the real torch-compatible generator seeded like the goldens.
 */
import { test } from "node:test";
import {
  addNoiseCases,
  checkAddNoise,
  checkImg2Img,
  checkTrajectory,
  img2imgCases,
  trajectoryCases,
} from "./helpers/scheduler-harness.js";

const SAMPLERS = ["DDIM", "PNDM", "Euler", "Euler Karras", "Euler a", "Heun", "LMS"];

for (const sampler of SAMPLERS) {
  const cases = trajectoryCases([sampler]);
  test(`${sampler}: ${cases.length} golden trajectories (timesteps exact, sigmas 1e-6 rel, samples 1e-5 rel)`, (t) => {
    if (cases.length === 0) throw new Error(`no golden trajectories for ${sampler} in the manifest`);
    let samples = 0;
    let inputs = 0;
    let sigmas = 0;
    let worstId = "";
    for (const c of cases) {
      const report = checkTrajectory(c);
      if (report.samples >= samples) worstId = c.id;
      samples = Math.max(samples, report.samples);
      inputs = Math.max(inputs, report.modelInputs);
      sigmas = Math.max(sigmas, report.sigmas);
    }
    t.diagnostic(
      `${sampler}: max rel error samples ${samples.toExponential(2)} (${worstId}), model inputs ${inputs.toExponential(2)}, sigmas ${sigmas.toExponential(2)}`,
    );
  });
}

for (const c of img2imgCases(SAMPLERS)) {
  test(`${c.id}: truncation, add_noise at begin_index and the remaining trajectory`, (t) => {
    const report = checkImg2Img(c);
    t.diagnostic(`${c.id}: max rel error ${report.samples.toExponential(2)}`);
  });
}

for (const c of addNoiseCases(SAMPLERS)) {
  test(`${c.id}: add_noise at ${c.timesteps.length} timesteps`, (t) => {
    t.diagnostic(`${c.id}: max rel error ${checkAddNoise(c).toExponential(2)}`);
  });
}
