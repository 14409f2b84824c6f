import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { ConvAlgorithm } from "../src/graph/conv-algorithm.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { buildUNetGraph, timestepFrequencies, UNET_INPUTS, UNET_OUTPUT } from "../src/graph/unet.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import { parseUNetConfig } from "../src/weights/architecture/diffusers-config.js";
import { SafetensorsWeightSource } from "../src/weights/safetensors-weight-source.js";
import { assertClose } from "./helpers/assert-close.js";
import { fixturePath, golden, manifest } from "./helpers/fixtures.js";

interface UNetCase {
  id: string;
  model: string;
  sample: string;
  timestep: string;
  encoder_hidden_states: string;
  out: string;
  shape: number[];
}

const cases: UNetCase[] = manifest().unet.cases;
const tolerance: number = manifest().unet.tolerance.max_abs;

async function unetSession(
  modelDir: string,
  attentionKind: "matmul" | "mha",
  convAlgorithm: ConvAlgorithm = "direct",
): Promise<Session> {
  const dir = fixturePath(modelDir);
  const config = parseUNetConfig(JSON.parse(readFileSync(`${dir}/config.json`, "utf-8")));
  const weights = SafetensorsWeightSource.open(`${dir}/diffusion_pytorch_model.safetensors`);
  try {
    const graph = buildUNetGraph(weights, config, { attention: attentionKind, convAlgorithm });
    return await onnxruntimeNode().createSession(serializeModel(graph), { intraOpNumThreads: 1 });
  } finally {
    weights.close();
  }
}

it("timestep frequencies are exp(-ln(10000)·k/half) in float32, within an ulp (half = 4: 1, 0.1, 0.01, 0.001)", () => {
  const freqs = timestepFrequencies(8, 0);
  assertClose(freqs, Float32Array.of(1, 0.1, 0.01, 0.001), 1e-8, "frequencies");
  // freq_shift 1 divides by half − 1 instead: k = 3 → exp(−ln(10000))
  assertClose(timestepFrequencies(8, 1).subarray(3), [1e-4], 1e-11, "frequency with freq_shift 1");
});

// the Winograd convs (graph/winograd-conv.ts) are held to the same tolerance as the direct ones
const GRAPH_FORMS = [
  { attentionKind: "matmul", convAlgorithm: "direct" },
  { attentionKind: "mha", convAlgorithm: "direct" },
  { attentionKind: "mha", convAlgorithm: "winograd-f2" },
  { attentionKind: "mha", convAlgorithm: "winograd-f4" },
  { attentionKind: "mha", convAlgorithm: "winograd-f4-light" },
  { attentionKind: "mha", convAlgorithm: "winograd-f4-shallow" },
] as const;

for (const { attentionKind, convAlgorithm } of GRAPH_FORMS) {
  const form = convAlgorithm === "direct" ? "" : `, ${convAlgorithm} convs`;
  describe(`UNet graph (${attentionKind} attention${form}) vs diffusers goldens`, () => {
    const sessions = new Map<string, Session>();

    before(async () => {
      for (const model of new Set(cases.map((c) => c.model))) {
        sessions.set(model, await unetSession(model, attentionKind, convAlgorithm));
      }
    });
    after(async () => {
      for (const s of sessions.values()) await s.release();
    });

    for (const c of cases) {
      it(`${c.id} [${c.shape.join("x")}] within ${tolerance}`, async (t) => {
        const g = golden("unet");
        const session = sessions.get(c.model)!;
        const [batch] = c.shape;
        const context = g.readF32(c.encoder_hidden_states);
        const out = await session.run({
          [UNET_INPUTS.sample]: { dims: c.shape, data: g.readF32(c.sample) },
          [UNET_INPUTS.timestep]: { dims: [batch], data: g.readF32(c.timestep) },
          [UNET_INPUTS.encoderHiddenStates]: {
            dims: [batch, 77, context.length / batch / 77],
            data: context,
          },
        });
        assert.deepEqual(out[UNET_OUTPUT].dims, [batch, 4, c.shape[2], c.shape[3]]);
        const diff = assertClose(
          out[UNET_OUTPUT].data as Float32Array,
          g.readF32(c.out),
          tolerance,
          `${c.id} out`,
        );
        t.diagnostic(`max |diff| ${diff.maxAbs.toExponential(2)}`);
      });
    }
  });
}

it("winograd-f4-shallow keeps the deepest level's resnet convs direct and takes Winograd everywhere else", () => {
  const dir = fixturePath(cases[0].model);
  const config = parseUNetConfig(JSON.parse(readFileSync(`${dir}/config.json`, "utf-8")));
  const weights = SafetensorsWeightSource.open(`${dir}/diffusion_pytorch_model.safetensors`);
  try {
    const transformed = (algorithm: ConvAlgorithm) =>
      buildUNetGraph(weights, config, { attention: "mha", convAlgorithm: algorithm })
        .initializers.map((i) => i.name)
        .filter((name) => name.includes(":winograd"));
    const deepest = config.blockOutChannels.length - 1;
    const atDeepest = (name: string) =>
      name.startsWith(`down_blocks.${deepest}.resnets.`) ||
      name.startsWith("mid_block.resnets.") ||
      name.startsWith("up_blocks.0.resnets.");
    const all = transformed("winograd-f4");
    const shallow = transformed("winograd-f4-shallow");
    assert.ok(all.some(atDeepest), "the tiny UNet has Winograd convs at its deepest level");
    assert.deepEqual(
      shallow,
      all.filter((name) => !atDeepest(name)),
    );
    // the first up block's upsampler runs after the upsampling, one level up: it keeps Winograd
    assert.ok(shallow.some((name) => name.startsWith("up_blocks.0.upsamplers.")));
  } finally {
    weights.close();
  }
});

it("broadcasts a single timestep over the batch, as diffusers does", async () => {
  const c = cases.find((x) => x.id === "b2_t500_cfg")!;
  const g = golden("unet");
  const session = await unetSession(c.model, "matmul");
  try {
    const out = await session.run({
      [UNET_INPUTS.sample]: { dims: c.shape, data: g.readF32(c.sample) },
      [UNET_INPUTS.timestep]: { dims: [1], data: Float32Array.of(500) },
      [UNET_INPUTS.encoderHiddenStates]: { dims: [2, 77, 32], data: g.readF32(c.encoder_hidden_states) },
    });
    assertClose(
      out[UNET_OUTPUT].data as Float32Array,
      g.readF32(c.out),
      tolerance,
      "b2_t500_cfg with timestep [1]",
    );
  } finally {
    await session.release();
  }
});
