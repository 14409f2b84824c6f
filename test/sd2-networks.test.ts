/**
 * SD 2.x networks built by the SD1.x graph builders from SD2 configs (gelu text tower, linear
 * proj_in/proj_out, per-block heads of fixed width) against diffusers/transformers goldens, from the
 * diffusers folder and from the fp16 single file in OpenCLIP's layout (fused q/k/v cut apart, the
 * penultimate-block rule).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { serializeModel } from "../src/graph/onnx-model.js";
import { buildTextEncoderGraph, TEXT_ENCODER_INPUT, TEXT_ENCODER_OUTPUT } from "../src/graph/text-encoder.js";
import { buildUNetGraph, UNET_INPUTS, UNET_OUTPUT } from "../src/graph/unet.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import { openWeightsFile } from "../src/weights/formats/open-weights-file.js";
import {
  OPEN_CLIP_PREFIX,
  OPEN_CLIP_UNUSED,
  openClipTensorMap,
} from "../src/weights/key-maps/open-clip-key-map.js";
import { ldmComponent } from "../src/weights/ldm-component.js";
import { loadModel } from "../src/weights/load-model.js";
import type { LoadedWeightsModel } from "../src/weights/loaded-model.js";
import { assertClose } from "./helpers/assert-close.js";
import {
  SD2_FOLDER,
  SD2_SINGLE_FILE,
  sd2Golden,
  sd2Manifest,
  TINY_SD2_OVERRIDES,
} from "./helpers/sd2-fixtures.js";

interface TextCase {
  id: string;
  prompt: string;
  input_ids: string;
  last_hidden_state: string;
  full_tower_last_layer_wrong: string;
}
interface UNetCase {
  id: string;
  sample: string;
  timestep: string;
  encoder_hidden_states: string;
  out: string;
  shape: number[];
}

const textCases: TextCase[] = sd2Manifest().text_encoder.cases;
const unetCases: UNetCase[] = sd2Manifest().unet.cases;
const textTolerance: number = sd2Manifest().text_encoder.tolerance.max_abs;
const unetTolerance: number = sd2Manifest().unet.tolerance.max_abs;

const runtime = onnxruntimeNode();
const sources: [string, () => LoadedWeightsModel][] = [
  ["diffusers folder", () => loadModel(SD2_FOLDER) as LoadedWeightsModel],
  [
    "fp16 single file",
    () => loadModel(SD2_SINGLE_FILE, { overrides: TINY_SD2_OVERRIDES }) as LoadedWeightsModel,
  ],
];

async function runText(session: Session, ids: readonly number[]): Promise<Float32Array> {
  const out = await session.run({
    [TEXT_ENCODER_INPUT]: { dims: [1, ids.length], data: Int32Array.from(ids) },
  });
  return out[TEXT_ENCODER_OUTPUT].data as Float32Array;
}

for (const [label, open] of sources) {
  for (const attention of ["matmul", "mha"] as const) {
    describe(`SD2 networks from the ${label} (${attention} attention) vs diffusers goldens`, () => {
      let model: LoadedWeightsModel;
      let text: Session;
      let unet: Session;
      before(async () => {
        model = open();
        const te = buildTextEncoderGraph(model.textEncoder.weights, model.textEncoder.config, { attention });
        text = await runtime.createSession(serializeModel(te), { intraOpNumThreads: 1 });
        const u = buildUNetGraph(model.unet.weights, model.unet.config, { attention });
        unet = await runtime.createSession(serializeModel(u), { intraOpNumThreads: 1 });
      });
      after(async () => {
        await text?.release();
        await unet?.release();
        model?.close();
      });

      for (const c of textCases) {
        it(`text encoder ${c.id} (${JSON.stringify(c.prompt)}): last_hidden_state within ${textTolerance}`, async (t) => {
          const g = sd2Golden("text_encoder");
          const out = await runText(text, g.readInts(c.input_ids));
          const d = assertClose(
            out,
            g.readF32(c.last_hidden_state),
            textTolerance,
            `${c.id} last_hidden_state`,
          );
          t.diagnostic(`max |diff| ${d.maxAbs.toExponential(2)}`);
        });
      }

      for (const c of unetCases) {
        it(`UNet ${c.id} [${c.shape.join("x")}] within ${unetTolerance}`, async (t) => {
          const g = sd2Golden("unet");
          const [batch] = c.shape;
          const context = g.readF32(c.encoder_hidden_states);
          const out = await unet.run({
            [UNET_INPUTS.sample]: { dims: c.shape, data: g.readF32(c.sample) },
            [UNET_INPUTS.timestep]: { dims: [batch], data: g.readF32(c.timestep) },
            [UNET_INPUTS.encoderHiddenStates]: {
              dims: [batch, 77, context.length / batch / 77],
              data: context,
            },
          });
          assert.deepEqual(out[UNET_OUTPUT].dims, c.shape);
          const d = assertClose(
            out[UNET_OUTPUT].data as Float32Array,
            g.readF32(c.out),
            unetTolerance,
            `${c.id} out`,
          );
          t.diagnostic(`max |diff| ${d.maxAbs.toExponential(2)}`);
        });
      }
    });
  }
}

it("running every OpenCLIP block of the single file gives the golden's wrong embedding, not SD2's", async () => {
  const model = loadModel(SD2_SINGLE_FILE, { overrides: TINY_SD2_OVERRIDES }) as LoadedWeightsModel;
  const file = openWeightsFile(SD2_SINGLE_FILE);
  try {
    assert.equal(
      model.textEncoder.config.numHiddenLayers,
      3,
      "the penultimate rule: 4 blocks in the file, 3 used",
    );
    const all = { ...model.textEncoder.config, numHiddenLayers: 4 };
    const full = ldmComponent({
      file,
      prefix: OPEN_CLIP_PREFIX,
      label: "text encoder",
      config: all,
      mappings: openClipTensorMap(all),
      assumed: {},
      ignore: OPEN_CLIP_UNUSED,
    });
    const session = await runtime.createSession(serializeModel(buildTextEncoderGraph(full.weights, all)), {
      intraOpNumThreads: 1,
    });
    try {
      const g = sd2Golden("text_encoder");
      const c = textCases[1];
      const out = await runText(session, g.readInts(c.input_ids));
      assertClose(out, g.readF32(c.full_tower_last_layer_wrong), textTolerance, "all 4 blocks");
      let worst = 0;
      const right = g.readF32(c.last_hidden_state);
      for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - right[i]));
      assert.ok(worst > 0.1, `all 4 blocks differ from SD2's embedding by ${worst}`);
    } finally {
      await session.release();
    }
  } finally {
    file.close();
    model.close();
  }
});
