import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { serializeModel } from "../src/graph/onnx-model.js";
import {
  buildTextEncoderGraph,
  clipSkipOutput,
  TEXT_ENCODER_INPUT,
  TEXT_ENCODER_OUTPUT,
} from "../src/graph/text-encoder.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import { parseTextEncoderConfig } from "../src/weights/architecture/diffusers-config.js";
import { SafetensorsWeightSource } from "../src/weights/safetensors-weight-source.js";
import { assertClose } from "./helpers/assert-close.js";
import { fixturePath, golden, manifest } from "./helpers/fixtures.js";

interface TextEncoderCase {
  id: string;
  prompt: string;
  input_ids: string;
  last_hidden_state: string;
  clip_skip_1: string;
  shape: number[];
}

const cases: TextEncoderCase[] = manifest().text_encoder.cases;
const tolerance: number = manifest().text_encoder.tolerance.max_abs;

for (const attentionKind of ["matmul", "mha"] as const) {
  describe(`CLIP text encoder graph (${attentionKind} attention) vs transformers goldens`, () => {
    let session: Session;

    before(async () => {
      const dir = fixturePath(manifest().text_encoder.model);
      const config = parseTextEncoderConfig(JSON.parse(readFileSync(`${dir}/config.json`, "utf-8")));
      const weights = SafetensorsWeightSource.open(`${dir}/model.safetensors`);
      const graph = buildTextEncoderGraph(weights, config, { attention: attentionKind, clipSkips: [1] });
      session = await onnxruntimeNode().createSession(serializeModel(graph), { intraOpNumThreads: 1 });
      weights.close();
    });
    after(() => session?.release());

    for (const c of cases) {
      it(`${c.id} (${JSON.stringify(c.prompt)}): last_hidden_state and clip_skip_1 within ${tolerance}`, async (t) => {
        const g = golden("text_encoder");
        const ids = Int32Array.from(g.readInts(c.input_ids));
        const out = await session.run({ [TEXT_ENCODER_INPUT]: { dims: [1, ids.length], data: ids } });
        assert.deepEqual(out[TEXT_ENCODER_OUTPUT].dims, c.shape);
        const last = assertClose(
          out[TEXT_ENCODER_OUTPUT].data as Float32Array,
          g.readF32(c.last_hidden_state),
          tolerance,
          `${c.id} last_hidden_state`,
        );
        const skip = assertClose(
          out[clipSkipOutput(1)].data as Float32Array,
          g.readF32(c.clip_skip_1),
          tolerance,
          `${c.id} clip_skip_1`,
        );
        t.diagnostic(
          `max |diff| last_hidden_state ${last.maxAbs.toExponential(2)}, clip_skip_1 ${skip.maxAbs.toExponential(2)}`,
        );
      });
    }

    it("encodes a batch of two prompts like the two prompts one by one", async () => {
      const g = golden("text_encoder");
      const a = g.readInts(cases[0].input_ids);
      const bIds = g.readInts(cases[2].input_ids);
      const out = await session.run({
        [TEXT_ENCODER_INPUT]: { dims: [2, 77], data: Int32Array.from([...a, ...bIds]) },
      });
      const hidden = out[TEXT_ENCODER_OUTPUT].data as Float32Array;
      const half = hidden.length / 2;
      assertClose(hidden.subarray(0, half), g.readF32(cases[0].last_hidden_state), tolerance, "batch row 0");
      assertClose(hidden.subarray(half), g.readF32(cases[2].last_hidden_state), tolerance, "batch row 1");
    });
  });
}

it("refuses a clip skip the text encoder cannot do", () => {
  const dir = fixturePath(manifest().text_encoder.model);
  const config = parseTextEncoderConfig(JSON.parse(readFileSync(`${dir}/config.json`, "utf-8")));
  const weights = SafetensorsWeightSource.open(`${dir}/model.safetensors`);
  assert.throws(
    () => buildTextEncoderGraph(weights, config, { clipSkips: [2] }),
    /clip skip 2 is out of range/,
  );
  weights.close();
});
