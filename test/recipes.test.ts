/**
 * `sdlite generate --recipe NAME`: each few-step recipe resolves to the settings its LoRA's model
 * card gives; explicit options win; the DDIM trailing schedule the Hyper-SD recipes ask for (the
 * model's config replaced by the request's timestep spacing) reproduces diffusers' trailing
 * trajectories; TCD's timesteps follow diffusers' TCDScheduler formula; eta and the spacing reach
 * the infotext.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { GenerateOptions } from "../src/cli/commands/generate.js";
import { buildCliJob } from "../src/cli/generate-job.js";
import type { ProgressReporter } from "../src/cli/progress-reporter.js";
import { formatInfotext } from "../src/image/infotext.js";
import { buildGenerationRecord } from "../src/pipeline/generation-record.js";
import { applyRecipe, findRecipe, RECIPES } from "../src/pipeline/recipes.js";
import { InvalidRequestError } from "../src/pipeline/request.js";
import { createScheduler } from "../src/schedulers/registry.js";
import { parseSchedulerConfig } from "../src/schedulers/scheduler-config.js";
import { fixturePath, manifest } from "./helpers/fixtures.js";
import { checkTrajectory, SAMPLE_TOLERANCE, trajectoryCases } from "./helpers/scheduler-harness.js";

const TINY = fixturePath("models", "tiny-sd15");

const quiet: ProgressReporter = { phase() {}, download() {}, generation() {}, note() {}, finish() {} };

async function cliRequest(options: Partial<GenerateOptions>) {
  const o: GenerateOptions = { model: TINY, lora: [], output: "unused", ...options };
  const { job } = await buildCliJob("a cat", o, quiet, new AbortController().signal, 0);
  return job.request;
}

/** What each recipe must set: the model cards' settings (sdlite's CFG 1 is diffusers' guidance 0: off). */
const EXPECTED: Record<string, Record<string, unknown>> = {
  "hyper-sd-1": { sampler: "TCD", steps: 1, guidance: 1, eta: 1 },
  "hyper-sd-2": { sampler: "DDIM", timestepSpacing: "trailing", steps: 2, guidance: 1 },
  "hyper-sd-4": { sampler: "DDIM", timestepSpacing: "trailing", steps: 4, guidance: 1 },
  "hyper-sd-8": { sampler: "DDIM", timestepSpacing: "trailing", steps: 8, guidance: 1 },
  "hyper-sd-8-dpm": { sampler: "DPM++ 2M", schedule: "Karras", steps: 8, guidance: 1 },
  tcd: { sampler: "TCD", steps: 4, guidance: 1, eta: 0.3 },
  "lcm-lora": { sampler: "LCM", steps: 4, guidance: 1 },
};

describe("recipes", () => {
  it("each recipe resolves to its settings through the CLI", async () => {
    assert.deepEqual(RECIPES.map((r) => r.name).sort(), Object.keys(EXPECTED).sort());
    for (const [name, expected] of Object.entries(EXPECTED)) {
      const request = await cliRequest({ recipe: name });
      const got = Object.fromEntries(
        Object.keys(expected).map((k) => [k, (request as Record<string, unknown>)[k]]),
      );
      assert.deepEqual(got, expected, name);
      for (const key of ["eta", "timestepSpacing", "schedule"]) {
        if (!(key in expected))
          assert.equal((request as Record<string, unknown>)[key], undefined, `${name}: ${key}`);
      }
    }
    assert.match(findRecipe("hyper-sd-8-dpm").lora, /Hyper-SD15-8steps-lora\.safetensors:0\.7/);
  });

  it("explicit options win; the recipe's schedule type goes with its own sampler only", async () => {
    const request = await cliRequest({
      recipe: "hyper-sd-8-dpm",
      steps: 6,
      cfg: 2,
      eta: 0.2,
      sampler: "DDIM",
      timestepSpacing: "linspace",
    });
    assert.deepEqual(
      [
        request.sampler,
        request.schedule,
        request.steps,
        request.guidance,
        request.eta,
        request.timestepSpacing,
      ],
      ["DDIM", undefined, 6, 2, 0.2, "linspace"],
    );
    const scheduled = await cliRequest({ recipe: "hyper-sd-8-dpm", scheduler: "Exponential" });
    assert.deepEqual([scheduled.sampler, scheduled.schedule], ["DPM++ 2M", "Exponential"]);
    assert.deepEqual(applyRecipe(undefined, { steps: 3 }), { steps: 3 }, "no recipe: the options as given");
  });

  it("an unknown recipe is refused with the list", () => {
    assert.throws(
      () => findRecipe("hyper-sd-3"),
      (err: Error) => err instanceof InvalidRequestError && /hyper-sd-1, hyper-sd-2/.test(err.message),
    );
  });
});

describe("the schedules the recipes run", () => {
  const base = parseSchedulerConfig(manifest().schedulers.base_config);

  it("DDIM on SD1.5's own config with the request's trailing spacing = diffusers' trailing DDIM, step by step", () => {
    const cases = trajectoryCases(["DDIM"]).filter(
      (c) => c.timestep_spacing === "trailing" && [1, 2, 4, 8].includes(c.steps),
    );
    assert.equal(cases.length, 4);
    for (const c of cases) {
      const report = checkTrajectory(c, (sampler, _caseConfig, steps) =>
        createScheduler(sampler, base, steps, { timestepSpacing: "trailing" }),
      );
      assert.ok(report.samples <= SAMPLE_TOLERANCE, c.id);
    }
    // without the option the model's config (leading) applies
    assert.deepEqual([...createScheduler("DDIM", base, 4).timesteps], [751, 501, 251, 1]);
  });

  it("TCD: diffusers' TCDScheduler timesteps (origin steps 50: 20k − 1, picked at floor(50i/n), reversed)", () => {
    const expected = (n: number) => Array.from({ length: n }, (_, i) => 999 - 20 * Math.floor((50 * i) / n));
    for (const n of [1, 4, 8]) {
      assert.deepEqual(
        [...createScheduler("TCD", base, n, { eta: 0.3 }).timesteps],
        expected(n),
        `${n} steps`,
      );
    }
    assert.deepEqual(expected(4), [999, 759, 499, 259]);
  });

  it("eta and the spacing are written into the infotext (A1111's `Eta DDIM` for DDIM)", () => {
    const request = {
      prompt: "a cat",
      sampler: "DDIM",
      steps: 4,
      guidance: 1,
      seed: 1,
      width: 64,
      height: 64,
    };
    const ddim = formatInfotext(
      buildGenerationRecord({ ...request, eta: 0.5, timestepSpacing: "trailing" }, 1),
    );
    assert.match(ddim, /RNG: CPU, Eta DDIM: 0\.5, Timestep spacing: trailing, Version/);
    const tcd = formatInfotext(buildGenerationRecord({ ...request, sampler: "TCD", eta: 0.3 }, 1));
    assert.match(tcd, /RNG: CPU, Eta: 0\.3, Version/);
  });
});
