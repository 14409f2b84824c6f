import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { serializeModel } from "../src/graph/onnx-model.js";
import { buildTextEncoderGraph, TEXT_ENCODER_INPUT, TEXT_ENCODER_OUTPUT } from "../src/graph/text-encoder.js";
import { buildUNetGraph, UNET_INPUTS, UNET_OUTPUT } from "../src/graph/unet.js";
import { readLoraFile } from "../src/lora/lora-file.js";
import { mergeLoras } from "../src/lora/merge-lora.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import { parseTextEncoderConfig, parseUNetConfig } from "../src/weights/architecture/diffusers-config.js";
import { SafetensorsWeightSource } from "../src/weights/safetensors-weight-source.js";
import { assertClose, maxDifference } from "./helpers/assert-close.js";
import { fixturePath, golden, manifest } from "./helpers/fixtures.js";

interface LoraCase {
  id: string;
  kind: "text_encoder" | "unet";
  prompt?: string;
  input_ids?: string;
  sample?: string;
  timestep?: string;
  encoder_hidden_states?: string;
  out: string;
}

const spec = manifest().lora;
const cases: LoraCase[] = spec.cases;
const tolerance: number = spec.tolerance.max_abs;
const modelDir = fixturePath("models", "tiny-sd15");
const readJson = (path: string) => JSON.parse(readFileSync(path, "utf-8"));

it("the LoRA goldens differ from the plain-model goldens (so matching them needs the merge)", () => {
  for (const c of cases.filter((x) => x.kind === "unet")) {
    const d = maxDifference(golden("lora").readF32(c.out), golden("unet").readF32(`${c.id}/out`));
    assert.ok(d.maxAbs > 100 * tolerance, `${c.id}: LoRA changes the UNet output by only ${d.maxAbs}`);
  }
});

for (const [format, file] of Object.entries(spec.files) as [string, string][]) {
  describe(`${format} LoRA fused at weight ${spec.scale}: graphs vs diffusers fuse_lora goldens`, () => {
    let textEncoder: Session;
    let unet: Session;

    before(async () => {
      const base = {
        unet: SafetensorsWeightSource.open(join(modelDir, "unet", "diffusion_pytorch_model.safetensors")),
        textEncoder: SafetensorsWeightSource.open(join(modelDir, "text_encoder", "model.safetensors")),
      };
      try {
        const lora = readLoraFile(fixturePath(file), base);
        assert.deepEqual(lora.unmatched, []);
        const weights = mergeLoras(base, [{ lora, weight: spec.scale }]);
        const runtime = onnxruntimeNode();
        const teConfig = parseTextEncoderConfig(readJson(join(modelDir, "text_encoder", "config.json")));
        textEncoder = await runtime.createSession(
          serializeModel(buildTextEncoderGraph(weights.textEncoder, teConfig)),
          { intraOpNumThreads: 1 },
        );
        const unetConfig = parseUNetConfig(readJson(join(modelDir, "unet", "config.json")));
        unet = await runtime.createSession(serializeModel(buildUNetGraph(weights.unet, unetConfig)), {
          intraOpNumThreads: 1,
        });
      } finally {
        base.unet.close();
        base.textEncoder.close();
      }
    });
    after(async () => {
      await textEncoder?.release();
      await unet?.release();
    });

    for (const c of cases) {
      it(`${c.kind} ${c.id}${c.prompt ? ` (${JSON.stringify(c.prompt)})` : ""} within ${tolerance}`, async (t) => {
        const g = golden("lora");
        let actual: Float32Array;
        if (c.kind === "text_encoder") {
          const ids = Int32Array.from(g.readInts(c.input_ids!));
          const out = await textEncoder.run({ [TEXT_ENCODER_INPUT]: { dims: [1, ids.length], data: ids } });
          actual = out[TEXT_ENCODER_OUTPUT].data as Float32Array;
        } else {
          // the UNet inputs are those of the plain UNet goldens
          const inputs = golden("unet");
          const sample = inputs.readF32(c.sample!);
          const context = inputs.readF32(c.encoder_hidden_states!);
          const out = await unet.run({
            [UNET_INPUTS.sample]: { dims: [1, 4, 8, 8], data: sample },
            [UNET_INPUTS.timestep]: { dims: [1], data: inputs.readF32(c.timestep!) },
            [UNET_INPUTS.encoderHiddenStates]: { dims: [1, 77, context.length / 77], data: context },
          });
          actual = out[UNET_OUTPUT].data as Float32Array;
        }
        const d = assertClose(actual, g.readF32(c.out), tolerance, `${format} ${c.id} ${c.kind} output`);
        t.diagnostic(`max |diff| ${d.maxAbs.toExponential(2)}`);
      });
    }
  });
}
