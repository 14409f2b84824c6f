import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ConvAlgorithm } from "../src/graph/conv-algorithm.js";
import { buildUNetGraph, timestepFrequencies, UNET_INPUTS, UNET_OUTPUT } from "../src/graph/unet.js";
import type { Session } from "../src/runtime/runtime.js";
import { assertClose } from "./helpers/assert-close.js";
import { golden } from "./helpers/fixtures.js";
import {
  unetCaseFeeds,
  unetCaseOut,
  unetCases,
  unetGoldenTolerance,
  unetGraphSession,
  withUNetFixture,
} from "./helpers/unet-goldens.js";

const cases = unetCases();
const tolerance = unetGoldenTolerance();

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
        sessions.set(model, await unetGraphSession(model, { attention: attentionKind, convAlgorithm }));
      }
    });
    after(async () => {
      for (const s of sessions.values()) await s.release();
    });

    for (const c of cases) {
      it(`${c.id} [${c.shape.join("x")}] within ${tolerance}`, async (t) => {
        const session = sessions.get(c.model)!;
        const [batch] = c.shape;
        const out = await session.run(unetCaseFeeds(c));
        assert.deepEqual(out[UNET_OUTPUT].dims, [batch, 4, c.shape[2], c.shape[3]]);
        const diff = assertClose(
          out[UNET_OUTPUT].data as Float32Array,
          unetCaseOut(c),
          tolerance,
          `${c.id} out`,
        );
        t.diagnostic(`max |diff| ${diff.maxAbs.toExponential(2)}`);
      });
    }
  });
}

it("winograd-f4-shallow keeps the deepest level's resnet convs direct and takes Winograd everywhere else", () => {
  withUNetFixture(cases[0].model, (weights, config) => {
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
  });
});

it("broadcasts a single timestep over the batch, as diffusers does", async () => {
  const c = cases.find((x) => x.id === "b2_t500_cfg")!;
  const g = golden("unet");
  const session = await unetGraphSession(c.model, { attention: "matmul", convAlgorithm: "direct" });
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
