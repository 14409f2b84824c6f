/**
 * End to end against diffusers: every pipeline fixture (txt2img with four samplers, img2img,
 * 9-channel inpainting, and txt2img with a LoRA) reproduced from its seed alone through the engine.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { toRgb } from "../src/image/color.js";
import { generate } from "../src/pipeline/generate.js";
import { assertClose } from "./helpers/assert-close.js";
import { fixturePath, golden, manifest } from "./helpers/fixtures.js";
import { caseRequest, type PipelineCase, pipelineCases, readFixturePng } from "./helpers/pipeline-cases.js";

const opened: OpenedPipeline[] = [];
after(async () => {
  for (const p of opened) await p.close();
});

async function open(path: string, loras: { path: string; weight: number }[] = []): Promise<OpenedPipeline> {
  const p = await openPipeline(fixturePath(path), { runtime: { cache: false, threads: 1 }, loras });
  opened.push(p);
  return p;
}

async function runCase(pipeline: OpenedPipeline, c: PipelineCase, goldenFile: string) {
  const g = golden(goldenFile);
  const steps: Float32Array[] = [];
  const [image] = await generate(pipeline.models, caseRequest(c), {
    onProgress: (p) => p.stage === "denoise" && p.latents && steps.push(p.latents),
  });
  const perStep = g.readF32(c.latents_per_step);
  const size = perStep.length / c.timesteps_run.length;
  assert.equal(steps.length, c.timesteps_run.length, `${c.id}: number of denoising steps`);
  let worstLatent = 0;
  steps.forEach((latents, i) => {
    const d = assertClose(
      latents,
      perStep.subarray(i * size, (i + 1) * size),
      1e-3,
      `${c.id} latents after step ${i}`,
    );
    worstLatent = Math.max(worstLatent, d.maxAbs);
  });
  const expected = toRgb(readFixturePng(c.png));
  let worstLevel = 0;
  for (let i = 0; i < expected.data.length; i++) {
    worstLevel = Math.max(worstLevel, Math.abs(expected.data[i] - image.image.data[i]));
  }
  assert.ok(worstLevel <= 1, `${c.id}: PNG differs by ${worstLevel} levels (at most 1 allowed)`);
  return { worstLatent, worstLevel };
}

describe("pipelines reproduce the diffusers fixtures", async () => {
  const cases = pipelineCases();
  it("tiny-sd15: txt2img (Euler a, DPM++ 2M Karras, LCM without CFG, DDIM with a negative prompt) and img2img", async () => {
    const pipeline = await open("models/tiny-sd15");
    for (const c of cases.filter((c) => c.kind !== "inpaint")) {
      const r = await runCase(pipeline, c, "pipelines");
      console.log(
        `# ${c.id}: latents max |diff| ${r.worstLatent.toExponential(2)}, PNG max ${r.worstLevel} level(s)`,
      );
    }
  });
  it("tiny-sd15-inpaint: 9-channel inpainting (DDIM, strength 1)", async () => {
    const pipeline = await open("models/tiny-sd15-inpaint");
    for (const c of cases.filter((c) => c.kind === "inpaint")) {
      const r = await runCase(pipeline, c, "pipelines");
      console.log(
        `# ${c.id}: latents max |diff| ${r.worstLatent.toExponential(2)}, PNG max ${r.worstLevel} level(s)`,
      );
    }
  });
  it("tiny-sd15 with the kohya LoRA at 0.7: txt2img Euler a", async () => {
    const pipeline = await open("models/tiny-sd15", [
      { path: fixturePath("lora/tiny-sd15-kohya.safetensors"), weight: 0.7 },
    ]);
    assert.equal(pipeline.unmatchedLoraKeys.length, 0);
    const c = manifest().lora.pipeline;
    const r = await runCase(pipeline, c, "pipelines_lora");
    console.log(
      `# ${c.id}: latents max |diff| ${r.worstLatent.toExponential(2)}, PNG max ${r.worstLevel} level(s)`,
    );
  });
});
