/** Sampler name resolution: A1111 labels, diffusers classes, k-diffusion/ComfyUI aliases, errors. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DdimScheduler } from "../src/schedulers/ddim.js";
import { EulerAncestralScheduler } from "../src/schedulers/euler-ancestral.js";
import { EulerDiscreteScheduler } from "../src/schedulers/euler-discrete.js";
import { HeunDiscreteScheduler } from "../src/schedulers/heun-discrete.js";
import { img2imgStart } from "../src/schedulers/img2img.js";
import { LmsDiscreteScheduler } from "../src/schedulers/lms-discrete.js";
import { PndmScheduler } from "../src/schedulers/pndm.js";
import {
  canonicalSamplerLabel,
  createScheduler,
  listSamplers,
  resolveSampler,
} from "../src/schedulers/registry.js";
import { parseSchedulerConfig } from "../src/schedulers/scheduler-config.js";
import { manifest } from "./helpers/fixtures.js";

const sd15 = () => parseSchedulerConfig(manifest().schedulers.base_config);

test("A1111 labels, diffusers classes and k-diffusion/ComfyUI aliases reach the same family", () => {
  const spellings: [string[], new (...args: never[]) => unknown][] = [
    [
      ["Euler a", "euler A", "k_euler_a", "euler_ancestral", "EulerAncestralDiscreteScheduler"],
      EulerAncestralScheduler,
    ],
    [["Euler", "k_euler", "EULER", "eulerdiscretescheduler"], EulerDiscreteScheduler],
    [["LMS", "k_lms", "LMSDiscreteScheduler"], LmsDiscreteScheduler],
    [["Heun", "k_heun", "HeunDiscreteScheduler"], HeunDiscreteScheduler],
    [["DDIM", "ddim", "DDIMScheduler"], DdimScheduler],
    [["PLMS", "pndm", "PNDMScheduler"], PndmScheduler],
  ];
  for (const [names, family] of spellings) {
    for (const name of names) {
      const scheduler = createScheduler(name, sd15(), 4);
      assert.ok(
        scheduler instanceof family,
        `"${name}" built ${scheduler.constructor.name}, expected ${family.name}`,
      );
    }
  }
});

test("Karras: label suffix, k-diffusion _ka alias and A1111's separate Schedule type agree", () => {
  const forms: [string, string | undefined][] = [
    ["Euler Karras", undefined],
    ["euler karras", undefined],
    ["k_euler_ka", undefined],
    ["Euler", "Karras"],
    ["euler", "karras"],
  ];
  for (const [name, scheduleType] of forms) {
    const resolved = resolveSampler(name, { scheduleType });
    assert.equal(resolved.label, "Euler Karras", `${name} / ${scheduleType}`);
    assert.equal(resolved.sampler, "Euler");
    assert.equal(resolved.scheduleType, "Karras");
  }
  // the Karras schedule changes the timesteps: 4 linspace steps 999, 687.15..., 145.94..., 0
  const karras = createScheduler("Euler", sd15(), 4, { scheduleType: "Karras" });
  const plain = createScheduler("Euler", sd15(), 4, { scheduleType: "Automatic" });
  assert.notDeepEqual(Array.from(karras.timesteps), Array.from(plain.timesteps));
  assert.deepEqual(Array.from(plain.timesteps), [999, Math.fround(666), Math.fround(333), 0]);
  assert.equal(canonicalSamplerLabel("k_euler_ka"), "Euler Karras");
  assert.equal(canonicalSamplerLabel("EulerAncestralDiscreteScheduler"), "Euler a");
  assert.equal(canonicalSamplerLabel("pndm"), "PLMS");
});

test("multistep samplers registered by the part-2 families resolve with their Karras forms", () => {
  assert.equal(canonicalSamplerLabel("k_dpmpp_2m_ka"), "DPM++ 2M Karras");
  assert.equal(canonicalSamplerLabel("dpmpp_2m", { scheduleType: "Karras" }), "DPM++ 2M Karras");
  assert.equal(canonicalSamplerLabel("DPMSolverMultistepScheduler"), "DPM++ 2M");
  assert.equal(canonicalSamplerLabel("DPM++ 2M SDE Karras"), "DPM++ 2M SDE Karras");
  assert.equal(canonicalSamplerLabel("k_dpmpp_2m_sde_ka"), "DPM++ 2M SDE Karras");
});

test("every listed sampler and alias resolves to its own label", () => {
  const list = listSamplers();
  const labels = list.map((s) => s.name);
  for (const expected of ["Euler a", "Euler", "LMS", "Heun", "DDIM", "PLMS"]) {
    assert.ok(labels.includes(expected), `listSamplers lacks ${expected}: ${labels.join(", ")}`);
  }
  for (const sampler of list) {
    for (const name of [sampler.name, ...sampler.aliases]) {
      assert.equal(resolveSampler(name).sampler, sampler.name, `alias "${name}"`);
    }
  }
});

test("an unknown sampler name is rejected with the list of valid choices", () => {
  assert.throws(
    () => createScheduler("Euler b", sd15(), 20),
    (err: Error) =>
      /unknown sampler "Euler b"/.test(err.message) &&
      ["Euler a", "Euler Karras", "DDIM", "PLMS", "LMS", "Heun"].every((l) => err.message.includes(l)),
  );
});

test("a schedule on a timestep sampler, an unknown schedule type, or two different schedules, is an error", () => {
  // Euler a took no Karras before schedules were split from samplers; A1111 allows it, so does sdlite
  assert.equal(resolveSampler("Euler a Karras").label, "Euler a Karras");
  assert.equal(resolveSampler("Euler", { scheduleType: "Exponential" }).label, "Euler Exponential");
  assert.throws(() => resolveSampler("DDIM", { scheduleType: "Karras" }), /"DDIM" has no Karras schedule/);
  assert.throws(() => resolveSampler("LCM Exponential"), /"LCM" has no Exponential schedule.*only Automatic/);
  assert.throws(
    () => resolveSampler("Euler", { scheduleType: "cosine" }),
    /schedule type "cosine".*Automatic, Uniform, Karras, Exponential/,
  );
  assert.throws(
    () => resolveSampler("Euler Karras", { scheduleType: "Exponential" }),
    /names the Karras schedule but the schedule type is Exponential/,
  );
  // the same schedule twice, or Automatic beside a folded one, is fine (A1111: the name's suffix wins)
  assert.equal(resolveSampler("Euler Karras", { scheduleType: "karras" }).scheduleType, "Karras");
  assert.equal(resolveSampler("Euler Karras", { scheduleType: "Automatic" }).scheduleType, "Karras");
});

test("old folded names with any schedule, in A1111, ComfyUI and k-diffusion spellings", () => {
  const forms: [string, string, string][] = [
    ["Euler a Exponential", "Euler a", "Exponential"],
    ["DPM++ 2M SGM Uniform", "DPM++ 2M", "SGM Uniform"],
    ["dpmpp_2m_sgm_uniform", "DPM++ 2M", "SGM Uniform"],
    ["euler_polyexponential", "Euler", "Polyexponential"],
    ["DPM++ 2M SDE Beta", "DPM++ 2M SDE", "Beta"],
    ["k_dpmpp_2m_ka", "DPM++ 2M", "Karras"],
    ["Heun KL Optimal", "Heun", "KL Optimal"],
    ["LMS ddim", "LMS", "DDIM"],
    // whole names first: the DDIM sampler is not "D" + the DDIM schedule
    ["DDIM", "DDIM", "Automatic"],
    ["DPM++ 2M SDE", "DPM++ 2M SDE", "Automatic"],
  ];
  for (const [name, sampler, schedule] of forms) {
    const resolved = resolveSampler(name);
    assert.deepEqual([resolved.sampler, resolved.scheduleType], [sampler, schedule], name);
    // the folded label resolves back to the same pair
    const again = resolveSampler(resolved.label);
    assert.deepEqual([again.sampler, again.scheduleType], [sampler, schedule], resolved.label);
  }
});

test("steps must be a positive integer", () => {
  for (const steps of [0, -3, 2.5, Number.NaN]) {
    assert.throws(
      () => createScheduler("Euler", sd15(), steps),
      /steps must be a positive integer/,
      `steps ${steps}`,
    );
  }
});

test("img2img strength must lie in (0, 1], and must leave at least one step", () => {
  const scheduler = createScheduler("DDIM", sd15(), 8);
  for (const strength of [0, -0.1, 1.01, Number.NaN]) {
    assert.throws(
      () => img2imgStart(scheduler, 8, strength),
      /strength .* must be in \(0, 1\]/,
      `strength ${strength}`,
    );
  }
  assert.throws(() => img2imgStart(scheduler, 8, 0.1), /leaves no denoising step/);
  const full = img2imgStart(scheduler, 8, 1);
  assert.equal(full.startIndex, 0);
  const heun = createScheduler("Heun", sd15(), 8);
  assert.equal(img2imgStart(heun, 8, 0.6).startIndex, 8, "Heun skips t_start * order = 4 * 2 entries");
});

test("eta option reaches DDIM: eta > 0 draws noise and changes the step", () => {
  const draws: number[] = [];
  const rng = {
    randn: (shape: readonly number[]) => {
      draws.push(shape[0]);
      return new Float32Array(shape[0]).fill(1);
    },
  };
  const x = new Float32Array(16).fill(0.5);
  const eps = new Float32Array(16).fill(0.1);
  const plain = createScheduler("DDIM", sd15(), 4).step(eps, 1, x, rng);
  assert.equal(draws.length, 0, "eta 0 draws no noise");
  const noisy = createScheduler("DDIM", sd15(), 4, { eta: 1 }).step(eps, 1, x, rng);
  assert.equal(draws.length, 1, "eta 1 draws noise once per step");
  assert.notDeepEqual(Array.from(plain), Array.from(noisy));
});

test("scheduler_config.json keys the file lacks take the chosen class's default", () => {
  const file = { ...manifest().schedulers.base_config };
  delete file.set_alpha_to_one;
  const config = parseSchedulerConfig(file);
  assert.equal(config.timestepSpacing, undefined);
  assert.deepEqual([...(config.unsetKeys ?? [])].sort(), ["set_alpha_to_one", "timestep_spacing"]);
  // spacing: DDIM/PLMS default to leading, the Euler family to linspace
  assert.deepEqual(Array.from(createScheduler("DDIM", config, 4).timesteps), [751, 501, 251, 1]);
  assert.deepEqual(Array.from(createScheduler("PLMS", config, 4).timesteps), [751, 501, 501, 251, 1]);
  assert.deepEqual(Array.from(createScheduler("Euler", config, 2).timesteps), [999, 0]);
  // an explicit key wins over the class default
  const trailing = parseSchedulerConfig({ ...file, timestep_spacing: "trailing" });
  assert.deepEqual(Array.from(createScheduler("DDIM", trailing, 4).timesteps), [999, 749, 499, 249]);
  // set_alpha_to_one missing: DDIM's default (true) makes the last step land on ᾱ = 1, i.e. x0 itself
  const x = new Float32Array(16).fill(0.7);
  const eps = new Float32Array(16).fill(0.2);
  const rng = { randn: () => new Float32Array(16) };
  const withDefault = createScheduler("DDIM", config, 4).step(eps, 3, x, rng);
  const explicitFalse = createScheduler("DDIM", sd15(), 4).step(eps, 3, x, rng);
  assert.notDeepEqual(Array.from(withDefault), Array.from(explicitFalse));
  assert.throws(
    () => parseSchedulerConfig({ beta_schedule: "cosine" }),
    /beta_schedule must be one of linear, scaled_linear/,
  );
});
