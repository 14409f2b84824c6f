/**
 * End to end against diffusers: every pipeline fixture (txt2img with four samplers, img2img,
 * 9-channel inpainting, and txt2img with a LoRA) reproduced from its seed alone through the engine.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { SpeedOptions } from "../src/engine/engine-options.js";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { fixturePath, golden, manifest } from "./helpers/fixtures.js";
import { checkPipelineCase, type PipelineCase, pipelineCases } from "./helpers/pipeline-cases.js";

const opened: OpenedPipeline[] = [];
after(async () => {
  for (const p of opened) await p.close();
});

async function open(
  path: string,
  loras: { path: string; weight: number }[] = [],
  speed: SpeedOptions = {},
): Promise<OpenedPipeline> {
  const p = await openPipeline(fixturePath(path), { runtime: { cache: false, threads: 1 }, loras, speed });
  opened.push(p);
  return p;
}

async function runCase(pipeline: OpenedPipeline, c: PipelineCase, goldenFile: string) {
  return checkPipelineCase(pipeline.models, c, golden(goldenFile));
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

// Winograd 3x3 convs (graph/conv-algorithm.ts) against the same fixtures and tolerances
for (const convAlgorithm of [
  "winograd-f2",
  "winograd-f4",
  "winograd-f4-light",
  "winograd-f4-shallow",
] as const) {
  describe(`pipelines with ${convAlgorithm} UNet convs reproduce the diffusers fixtures`, async () => {
    const cases = pipelineCases();
    it("tiny-sd15 (txt2img, img2img) and tiny-sd15-inpaint", async () => {
      const pipeline = await open("models/tiny-sd15", [], { convAlgorithm });
      const inpaint = await open("models/tiny-sd15-inpaint", [], { convAlgorithm });
      for (const c of cases) {
        const r = await runCase(c.kind === "inpaint" ? inpaint : pipeline, c, "pipelines");
        console.log(
          `# ${convAlgorithm} ${c.id}: latents max |diff| ${r.worstLatent.toExponential(2)}, PNG max ${r.worstLevel} level(s)`,
        );
      }
    });
  });
}
