import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { serializeModel } from "../src/graph/onnx-model.js";
import {
  buildTaesdDecoderGraph,
  buildTaesdEncoderGraph,
  TAESD_DECODER_INPUT,
  TAESD_DECODER_OUTPUT,
  TAESD_ENCODER_INPUT,
  TAESD_ENCODER_OUTPUT,
} from "../src/graph/taesd.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import { parseTaesdConfig } from "../src/weights/diffusers-config.js";
import { SafetensorsWeightSource } from "../src/weights/safetensors-weight-source.js";
import { assertClose } from "./helpers/assert-close.js";
import { fixturePath, golden, manifest } from "./helpers/fixtures.js";

interface VaeCase {
  id: string;
  kind: "decode" | "encode";
  latents: string;
  taesd_decode: string;
  image: string;
  taesd_encode: string;
}

const vae = manifest().vae;
const cases: VaeCase[] = vae.cases;
const tolerance: number = vae.tolerance.max_abs;
const modelDir = fixturePath(vae.taesd_model);
const config = parseTaesdConfig(JSON.parse(readFileSync(`${modelDir}/config.json`, "utf-8")));

function dimsOf(key: string): number[] {
  return [...golden("vae").info(key).shape];
}

describe("TAESD graphs vs diffusers AutoencoderTiny goldens", () => {
  let decoder: Session;
  let encoder: Session;

  before(async () => {
    const weights = SafetensorsWeightSource.open(`${modelDir}/diffusion_pytorch_model.safetensors`);
    try {
      const runtime = onnxruntimeNode();
      decoder = await runtime.createSession(serializeModel(buildTaesdDecoderGraph(weights, config)), {
        intraOpNumThreads: 1,
      });
      encoder = await runtime.createSession(serializeModel(buildTaesdEncoderGraph(weights, config)), {
        intraOpNumThreads: 1,
      });
    } finally {
      weights.close();
    }
  });
  after(async () => {
    await decoder?.release();
    await encoder?.release();
  });

  for (const c of cases.filter((c) => c.kind === "decode")) {
    it(`${c.id}: taesd_decode within ${tolerance}`, async (t) => {
      const g = golden("vae");
      const out = await decoder.run({
        [TAESD_DECODER_INPUT]: { dims: dimsOf(c.latents), data: g.readF32(c.latents) },
      });
      assert.deepEqual(out[TAESD_DECODER_OUTPUT].dims, dimsOf(c.taesd_decode));
      const diff = assertClose(
        out[TAESD_DECODER_OUTPUT].data as Float32Array,
        g.readF32(c.taesd_decode),
        tolerance,
        `${c.id} taesd_decode`,
      );
      t.diagnostic(`max |diff| ${diff.maxAbs.toExponential(2)}`);
    });
  }

  for (const c of cases.filter((c) => c.kind === "encode")) {
    it(`${c.id}: taesd_encode within ${tolerance}`, async (t) => {
      const g = golden("vae");
      const out = await encoder.run({
        [TAESD_ENCODER_INPUT]: { dims: dimsOf(c.image), data: g.readF32(c.image) },
      });
      assert.deepEqual(out[TAESD_ENCODER_OUTPUT].dims, dimsOf(c.taesd_encode));
      const diff = assertClose(
        out[TAESD_ENCODER_OUTPUT].data as Float32Array,
        g.readF32(c.taesd_encode),
        tolerance,
        `${c.id} taesd_encode`,
      );
      t.diagnostic(`max |diff| ${diff.maxAbs.toExponential(2)}`);
    });
  }
});
