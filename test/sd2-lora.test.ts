/**
 * LoRAs on SD 2.x, in kohya naming (`lora_unet_…`, `lora_te_text_model_…` as kohya's sd-scripts
 * names SD2's 23-layer text encoder) and diffusers/PEFT naming: every key finds its weight on the
 * diffusers folder and on the single file (whose q/k/v are cut from OpenCLIP's fused in_proj),
 * the merged weights are W + weight·alpha/rank·up·down, and both formats give the same image.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { openPipeline } from "../src/engine/open-pipeline.js";
import { readLoraFile } from "../src/lora/lora-file.js";
import { mergeLoras } from "../src/lora/merge-lora.js";
import { generate } from "../src/pipeline/generate.js";
import { writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { loadModel } from "../src/weights/load-model.js";
import type { LoadedWeightsModel } from "../src/weights/loaded-model.js";
import { assertClose } from "./helpers/assert-close.js";
import { SD2_FOLDER, SD2_SINGLE_FILE, TINY_SD2_OVERRIDES } from "./helpers/sd2-fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "sdlite-sd2-lora-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const RANK = 2;
const ALPHA = 1;
const WEIGHT = 0.8;

/** Deterministic small values, different per tensor. */
function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(seed * 7.1 + i * 1.3) * 0.3));
}

interface Target {
  component: "unet" | "textEncoder";
  weight: string;
  out: number;
  fanIn: number;
  kohya: string;
  peft: string;
}

/** Linear layers SD2 has where SD1 differs or that the single file stores fused. */
const TARGETS: Target[] = [
  {
    component: "unet",
    weight: "down_blocks.0.attentions.0.proj_in.weight",
    out: 8,
    fanIn: 8,
    kohya: "lora_unet_down_blocks_0_attentions_0_proj_in",
    peft: "unet.down_blocks.0.attentions.0.proj_in",
  },
  {
    component: "unet",
    weight: "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight",
    out: 32,
    fanIn: 32,
    kohya: "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k",
    peft: "unet.mid_block.attentions.0.transformer_blocks.0.attn2.to_k",
  },
  {
    component: "textEncoder",
    weight: "text_model.encoder.layers.1.self_attn.k_proj.weight",
    out: 32,
    fanIn: 32,
    kohya: "lora_te_text_model_encoder_layers_1_self_attn_k_proj",
    peft: "text_encoder.text_model.encoder.layers.1.self_attn.k_proj",
  },
  {
    component: "textEncoder",
    weight: "text_model.encoder.layers.2.mlp.fc1.weight",
    out: 128,
    fanIn: 32,
    kohya: "lora_te_text_model_encoder_layers_2_mlp_fc1",
    peft: "text_encoder.text_model.encoder.layers.2.mlp.fc1",
  },
];

function writeLoras(): { kohya: string; peft: string } {
  const kohya = join(dir, "sd2-kohya.safetensors");
  const peft = join(dir, "sd2-peft.safetensors");
  writeSafetensors(
    kohya,
    TARGETS.flatMap((t, i) => [
      {
        name: `${t.kohya}.lora_down.weight`,
        dtype: "F32",
        shape: [RANK, t.fanIn],
        data: values(RANK * t.fanIn, i),
      },
      {
        name: `${t.kohya}.lora_up.weight`,
        dtype: "F32",
        shape: [t.out, RANK],
        data: values(t.out * RANK, i + 10),
      },
      { name: `${t.kohya}.alpha`, dtype: "F32", shape: [], data: Float32Array.of(ALPHA) },
    ]),
  );
  // PEFT has no alpha tensor: B holds up·alpha/rank, as diffusers' conversion from kohya writes it
  writeSafetensors(
    peft,
    TARGETS.flatMap((t, i) => [
      {
        name: `${t.peft}.lora_A.weight`,
        dtype: "F32",
        shape: [RANK, t.fanIn],
        data: values(RANK * t.fanIn, i),
      },
      {
        name: `${t.peft}.lora_B.weight`,
        dtype: "F32",
        shape: [t.out, RANK],
        data: values(t.out * RANK, i + 10).map((v) => Math.fround((v * ALPHA) / RANK)),
      },
    ]),
  );
  return { kohya, peft };
}

/** W + weight·alpha/rank·(up @ down), in float64. */
function expectedMerge(base: Float32Array, t: Target, i: number): Float64Array {
  const down = values(RANK * t.fanIn, i);
  const up = values(t.out * RANK, i + 10);
  const out = Float64Array.from(base);
  for (let o = 0; o < t.out; o++) {
    for (let j = 0; j < t.fanIn; j++) {
      let sum = 0;
      for (let r = 0; r < RANK; r++) sum += up[o * RANK + r] * down[r * t.fanIn + j];
      out[o * t.fanIn + j] += ((WEIGHT * ALPHA) / RANK) * sum;
    }
  }
  return out;
}

test("kohya and PEFT LoRAs fit SD 2.x's folder and single file alike: every key matched, merged as W + w·α/r·up·down", () => {
  const files = writeLoras();
  const models: [string, LoadedWeightsModel][] = [
    ["folder", loadModel(SD2_FOLDER) as LoadedWeightsModel],
    ["single file", loadModel(SD2_SINGLE_FILE, { overrides: TINY_SD2_OVERRIDES }) as LoadedWeightsModel],
  ];
  try {
    const merged: Record<string, Float32Array[]> = {};
    for (const [label, model] of models) {
      const weights = { unet: model.unet.weights, textEncoder: model.textEncoder.weights };
      for (const [format, path] of Object.entries(files)) {
        const lora = readLoraFile(path, weights);
        assert.deepEqual(lora.unmatched, [], `${format} on the ${label}: unmatched keys`);
        assert.equal(lora.modules.length, TARGETS.length);
        const m = mergeLoras(weights, [{ lora, weight: WEIGHT }]);
        TARGETS.forEach((t, i) => {
          const got = m[t.component].get(t.weight);
          assertClose(
            got,
            expectedMerge(weights[t.component].get(t.weight), t, i),
            1e-6,
            `${format} ${label} ${t.weight}`,
          );
          const key = `${format} ${t.weight}`;
          merged[key] = [...(merged[key] ?? []), got];
        });
      }
    }
    for (const [key, [folder, single]] of Object.entries(merged)) assert.deepEqual(single, folder, key);
  } finally {
    for (const [, m] of models) m.close();
  }
});

test("with a LoRA, the folder and the single file give the same SD-Turbo image, and it differs from the one without", async () => {
  const { kohya } = writeLoras();
  const request = {
    prompt: "a photo of a cat",
    sampler: "Euler",
    steps: 1,
    guidance: 0,
    seed: 42,
    width: 64,
    height: 64,
  };
  const images: Uint8Array[] = [];
  for (const [path, overrides, loras] of [
    [SD2_FOLDER, undefined, [{ path: kohya, weight: 3 }]],
    [SD2_SINGLE_FILE, TINY_SD2_OVERRIDES, [{ path: kohya, weight: 3 }]],
    [SD2_FOLDER, undefined, []],
  ] as const) {
    const p = await openPipeline(path, {
      runtime: { cache: false, threads: 1 },
      overrides,
      loras: [...loras],
    });
    try {
      assert.equal(p.unmatchedLoraKeys.length, 0);
      const [image] = await generate(p.models, request);
      images.push(image.image.data);
    } finally {
      await p.close();
    }
  }
  assert.deepEqual(images[1], images[0], "single file = folder with the LoRA");
  assert.notDeepEqual(images[2], images[0], "the LoRA changes the image");
});
