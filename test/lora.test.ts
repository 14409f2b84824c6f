import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sha256File } from "../src/image/sha256-file.js";
import { readLoraFile } from "../src/lora/lora-file.js";
import { loraFingerprint } from "../src/lora/lora-fingerprint.js";
import type { LoraFile } from "../src/lora/lora-module.js";
import { LoraTargets } from "../src/lora/lora-targets.js";
import { LoraMergedWeightSource, mergeLoras, type WeightedLora } from "../src/lora/merge-lora.js";
import { SafetensorsFile } from "../src/weights/formats/safetensors.js";
import { type TensorToWrite, writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { unetTensorMap } from "../src/weights/key-maps/unet-key-map.js";
import type { WeightSource } from "../src/weights/weight-source.js";
import { safetensorsDataSha256 } from "./helpers/addnet-hash.js";
import { assertClose, maxAbs } from "./helpers/assert-close.js";
import { fixturePath, manifest } from "./helpers/fixtures.js";
import { TINY_SD15 } from "./helpers/tiny-configs.js";
import { openTinyLoraModel, type TinyLoraModel } from "./helpers/tiny-lora-model.js";

const spec = manifest().lora;
const SCALE: number = spec.scale; // 0.7
const kohyaPath = fixturePath(spec.files.kohya);
const peftPath = fixturePath(spec.files.diffusers_peft);
const modelDir = fixturePath("models", "tiny-sd15");

let model: TinyLoraModel;
let targets: LoraTargets;
let kohya: LoraFile;
let peft: LoraFile;
let scratch: string;

before(() => {
  model = openTinyLoraModel();
  targets = new LoraTargets(model);
  kohya = readLoraFile(kohyaPath, targets);
  peft = readLoraFile(peftPath, targets);
  scratch = mkdtempSync(join(tmpdir(), "sdlite-lora-"));
});

after(() => {
  model.unet.close();
  model.textEncoder.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** Writes a LoRA derived from a fixture: keys renamed (undefined drops one), tensors added. */
function deriveLora(
  name: string,
  from: string,
  rename: (key: string) => string | undefined,
  extra: TensorToWrite[] = [],
  metadata: Record<string, string> = {},
): string {
  const src = SafetensorsFile.open(from);
  const tensors: TensorToWrite[] = [];
  try {
    for (const key of src.names()) {
      const to = rename(key);
      if (to === undefined) continue;
      const raw = src.readRaw(key);
      tensors.push({ name: to, dtype: raw.dtype, shape: raw.shape, data: raw.bytes });
    }
  } finally {
    src.close();
  }
  const path = join(scratch, name);
  writeSafetensors(path, [...tensors, ...extra], metadata);
  return path;
}

function f32(name: string, shape: number[], data: Float32Array): TensorToWrite {
  return { name, dtype: "F32", shape, data };
}

/** Deterministic small values, so synthetic LoRAs are not all-equal. */
function ramp(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.5);
}

function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((v, i) => v === y[i]);
}

function targetsOf(lora: LoraFile): string[] {
  return lora.modules.map((m) => `${m.component}:${m.target}`).sort();
}

function merged(loras: WeightedLora[]) {
  return mergeLoras(model, loras);
}

function sourceFor(m: { unet: WeightSource; textEncoder: WeightSource }, component: string): WeightSource {
  return component === "unet" ? m.unet : m.textEncoder;
}

describe("LoRA files: format detection and key mapping", () => {
  it("maps all 290 modules of the kohya file (278 UNet + 12 text encoder), none unmatched", () => {
    assert.equal(kohya.format, "kohya");
    assert.deepEqual(kohya.unmatched, [], "unmatched kohya keys");
    const count = (c: string) => kohya.modules.filter((m) => m.component === c).length;
    assert.equal(count("unet"), spec.num_modules.lora_unet);
    assert.equal(count("text_encoder"), spec.num_modules.lora_te);
    assert.equal(new Set(targetsOf(kohya)).size, 290, "each module targets a different weight");
    // conv LoRA: 3x3 resnet/sampler kernels and 1x1 proj_in/proj_out/conv_shortcut
    const conv = kohya.modules.flatMap((m) => (m.kind === "conv" && m.type === "lora" ? [m] : []));
    assert.ok(conv.some((m) => m.down.shape[2] === 3) && conv.some((m) => m.down.shape[2] === 1));
    const alphas = new Set(kohya.modules.map((m) => m.alpha));
    assert.deepEqual([...alphas].sort(), [...spec.alphas.cycle_over_modules_in_file_order].sort());
    for (const m of kohya.modules.filter((x) => x.target.includes("self_attn"))) {
      assert.equal(m.alpha, spec.alphas.text_encoder_self_attn, `alpha of ${m.sourceName}`);
    }
  });

  it("maps the PEFT file onto the same 290 weights, with alpha = rank (B already holds alpha/rank)", () => {
    assert.equal(peft.format, "diffusers");
    assert.deepEqual(peft.unmatched, [], "unmatched PEFT keys");
    assert.deepEqual(targetsOf(peft), targetsOf(kohya));
    assert.ok(peft.modules.every((m) => m.alpha === m.rank && m.scale === 1 && m.rank === spec.rank));
  });

  it("maps kohya names in the LDM layout (lora_unet_input_blocks_1_1_proj_in) through the LDM key map", () => {
    const toLdm = new Map<string, string>();
    for (const m of unetTensorMap(TINY_SD15.unet)) {
      if (!m.canonical.endsWith(".weight")) continue;
      const joined = (s: string) => `lora_unet_${s.slice(0, -".weight".length).replaceAll(".", "_")}`;
      toLdm.set(joined(m.canonical), joined(m.ldm));
    }
    const path = deriveLora("ldm-kohya.safetensors", kohyaPath, (key) => {
      const dot = key.indexOf(".");
      return (toLdm.get(key.slice(0, dot)) ?? key.slice(0, dot)) + key.slice(dot);
    });
    const ldm = readLoraFile(path, targets);
    assert.ok(ldm.modules.some((m) => m.sourceName === "lora_unet_input_blocks_1_1_proj_in"));
    assert.ok(ldm.modules.some((m) => m.sourceName === "lora_unet_middle_block_1_proj_out"));
    assert.deepEqual(ldm.unmatched, []);
    assert.deepEqual(targetsOf(ldm), targetsOf(kohya));

    // without the UNet architecture the LDM names cannot be resolved: reported, not dropped
    const plain = readLoraFile(path, { unet: model.unet, textEncoder: model.textEncoder });
    assert.ok(plain.unmatched.some((u) => u.key.startsWith("lora_unet_input_blocks_1_1_proj_in.")));
  });

  it("reads the older diffusers formats (processor.to_q_lora, lora.down, lora_linear_layer)", () => {
    const path = deriveLora("old-diffusers.safetensors", peftPath, (key) => {
      const attn = /^(unet\..+)\.(to_[qkv]|to_out)(?:\.0)?\.lora_([AB])\.weight$/.exec(key);
      if (attn) return `${attn[1]}.processor.${attn[2]}_lora.${attn[3] === "A" ? "down" : "up"}.weight`;
      const te = /^(text_encoder\..+\.self_attn)\.([qkv]|out)_proj\.lora_([AB])\.weight$/.exec(key);
      if (te) return `${te[1]}.to_${te[2]}_lora.${te[3] === "A" ? "down" : "up"}.weight`;
      const style = key.includes("resnets") ? "lora" : "lora_linear_layer";
      return key
        .replace(/\.lora_A\.weight$/, `.${style}.down.weight`)
        .replace(/\.lora_B\.weight$/, `.${style}.up.weight`);
    });
    const old = readLoraFile(path, targets);
    assert.equal(old.format, "diffusers");
    assert.deepEqual(old.unmatched, []);
    assert.deepEqual(targetsOf(old), targetsOf(kohya));
  });

  it("reports keys that match nothing, with the file name and why, and still maps the rest", () => {
    const path = deriveLora("extra-keys.safetensors", kohyaPath, (k) => k, [
      f32("lora_unet_down_blocks_7_attentions_0_proj_in.lora_down.weight", [4, 8, 1, 1], ramp(32, 1)),
      f32("lora_unet_down_blocks_7_attentions_0_proj_in.lora_up.weight", [8, 4, 1, 1], ramp(32, 2)),
      f32("lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", [4, 32], ramp(128, 3)),
      f32("lora_unet_mid_block_attentions_0_proj_in.oft_blocks", [4, 8, 8], ramp(256, 4)),
    ]);
    const lora = readLoraFile(path, targets);
    const keys = lora.unmatched.map((u) => u.key).sort();
    assert.deepEqual(keys, [
      "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",
      "lora_unet_down_blocks_7_attentions_0_proj_in.lora_down.weight",
      "lora_unet_down_blocks_7_attentions_0_proj_in.lora_up.weight",
      "lora_unet_mid_block_attentions_0_proj_in.alpha",
      "lora_unet_mid_block_attentions_0_proj_in.lora_down.weight",
      "lora_unet_mid_block_attentions_0_proj_in.lora_up.weight",
      "lora_unet_mid_block_attentions_0_proj_in.oft_blocks",
    ]);
    assert.ok(lora.unmatched.every((u) => u.file === "extra-keys.safetensors" && u.reason.length > 0));
    assert.match(lora.unmatched.find((u) => u.key.includes("oft"))!.reason, /OFT/);
    assert.match(lora.unmatched.find((u) => u.key.includes("te2"))!.reason, /SDXL/);
    assert.equal(lora.modules.length, 289);

    const peftExtra = deriveLora("peft-extra.safetensors", peftPath, (k) => k, [
      f32("unet.down_blocks.0.nonexistent.lora_A.weight", [4, 8], ramp(32, 5)),
      f32("unet.down_blocks.0.nonexistent.lora_B.weight", [8, 4], ramp(32, 6)),
    ]);
    const p = readLoraFile(peftExtra, targets);
    assert.deepEqual(
      p.unmatched.map((u) => [u.file, u.key]),
      [
        ["peft-extra.safetensors", "unet.down_blocks.0.nonexistent.lora_A.weight"],
        ["peft-extra.safetensors", "unet.down_blocks.0.nonexistent.lora_B.weight"],
      ],
    );
  });

  it("refuses a full checkpoint as a LoRA, naming what it is", () => {
    const checkpoint = fixturePath("single_file", "tiny-sd15-fp16.safetensors");
    assert.throws(
      () => readLoraFile(checkpoint, targets),
      /not a LoRA file: .*full Stable Diffusion checkpoint/,
    );
    const unet = join(modelDir, "unet", "diffusion_pytorch_model.safetensors");
    assert.throws(() => readLoraFile(unet, targets), /not a LoRA file: .*diffusers UNet/);
  });

  it("refuses a module whose shapes do not fit its weight, naming the module and both shapes", () => {
    const name = "lora_unet_down_blocks_1_resnets_0_conv1";
    const path = deriveLora(
      "wrong-shape.safetensors",
      kohyaPath,
      (k) => (k.startsWith(`${name}.lora_down`) ? undefined : k),
      [f32(`${name}.lora_down.weight`, [4, 16, 3, 3], ramp(576, 7))],
    );
    assert.throws(
      () => readLoraFile(path, targets),
      (err: Error) => {
        assert.match(err.message, new RegExp(`module "${name}"`));
        assert.match(err.message, /\[16, 8, 3, 3\]/, "target shape");
        assert.match(err.message, /lora down is \[4, 16, 3, 3\], lora up is \[16, 4, 1, 1\]/);
        return true;
      },
    );
  });

  it("takes PEFT alphas from lora_adapter_metadata (lora_alpha, alpha_pattern, use_rslora)", () => {
    const metadata = {
      lora_adapter_metadata: JSON.stringify({
        "unet.r": 4,
        "unet.lora_alpha": 8,
        "unet.alpha_pattern": { "attn2.to_k": 2 },
        "text_encoder.r": 4,
        "text_encoder.lora_alpha": 16,
        "text_encoder.use_rslora": true,
      }),
    };
    const lora = readLoraFile(
      deriveLora("peft-alpha.safetensors", peftPath, (k) => k, [], metadata),
      targets,
    );
    const scaleOf = (target: string) => lora.modules.find((m) => m.target === target)!.scale;
    assert.equal(scaleOf("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k.weight"), 2);
    assert.equal(scaleOf("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"), 0.5);
    assert.equal(scaleOf("text_model.encoder.layers.0.mlp.fc1.weight"), 8); // 16 / sqrt(4)
  });
});

describe("LoRA merge", () => {
  it("kohya and PEFT files give the same merged weights for every target", (t) => {
    const a = merged([{ lora: kohya, weight: SCALE }]);
    const b = merged([{ lora: peft, weight: SCALE }]);
    let worstRel = 0;
    let worstAbs = 0;
    let where = "";
    for (const m of kohya.modules) {
      const x = sourceFor(a, m.component).get(m.target);
      const y = sourceFor(b, m.component).get(m.target);
      const scale = Math.max(maxAbs(x), Number.MIN_VALUE);
      const d = assertClose(x, y, 1e-6 * scale, `${m.component} ${m.target} kohya vs PEFT`);
      if (d.maxAbs / scale >= worstRel) {
        worstRel = d.maxAbs / scale;
        worstAbs = d.maxAbs;
        where = m.target;
      }
    }
    t.diagnostic(
      `max |kohya − PEFT| ${worstAbs.toExponential(2)} (${worstRel.toExponential(2)} relative) at ${where}`,
    );
    assert.ok(worstRel <= 1e-7, `relative difference ${worstRel} > 1e-7 at ${where}`);
  });

  it("one linear and one 3x3 conv module equal an independent hand computation", (t) => {
    const file = SafetensorsFile.open(kohyaPath);
    const m = merged([{ lora: kohya, weight: SCALE }]);
    try {
      for (const [kohyaName, target, shape] of [
        [
          "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k",
          "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight",
          [16, 32, 1, 1],
        ],
        ["lora_unet_down_blocks_1_resnets_0_conv1", "down_blocks.1.resnets.0.conv1.weight", [16, 8, 3, 3]],
      ] as const) {
        const down = file.readF32(`${kohyaName}.lora_down.weight`);
        const up = file.readF32(`${kohyaName}.lora_up.weight`);
        const alpha = file.readF32(`${kohyaName}.alpha`)[0];
        const rank = file.info(`${kohyaName}.lora_down.weight`).shape[0];
        const w = model.unet.get(target);
        const [out, inp, kh, kw] = shape;
        const expected = new Float32Array(w.length);
        for (let o = 0; o < out; o++)
          for (let i = 0; i < inp; i++)
            for (let y = 0; y < kh; y++)
              for (let x = 0; x < kw; x++) {
                let sum = 0;
                for (let k = 0; k < rank; k++)
                  sum += up[o * rank + k] * down[((k * inp + i) * kh + y) * kw + x];
                const at = ((o * inp + i) * kh + y) * kw + x;
                expected[at] = w[at] + SCALE * (alpha / rank) * sum;
              }
        const actual = m.unet.get(target);
        const d = assertClose(actual, expected, 1e-6, `${target} merged vs hand computation`);
        const effect = assertClose(actual, w, Number.POSITIVE_INFINITY, "effect");
        assert.ok(effect.maxAbs > 1e-3, `${target}: the LoRA changed W by only ${effect.maxAbs}`);
        t.diagnostic(
          `${target} (alpha ${alpha}): max |diff| ${d.maxAbs.toExponential(2)}, LoRA effect ${effect.maxAbs.toFixed(4)}`,
        );
      }
    } finally {
      file.close();
    }
  });

  it("weight 0 leaves every weight bit-identical", () => {
    const m = merged([{ lora: kohya, weight: 0 }]);
    for (const component of ["unet", "textEncoder"] as const) {
      for (const name of model[component].names()) {
        assert.ok(bitsEqual(m[component].get(name), model[component].get(name)), `${component} ${name}`);
      }
    }
  });

  it("two LoRAs with weights add up: W' − W is the sum of each one's delta", (t) => {
    // a second LoRA: one module on a weight the first also changes, one on a weight it leaves alone
    const second = deriveLora("second.safetensors", kohyaPath, () => undefined, [
      f32("lora_unet_mid_block_resnets_0_conv1.lora_down.weight", [2, 32, 3, 3], ramp(576, 8)),
      f32("lora_unet_mid_block_resnets_0_conv1.lora_up.weight", [32, 2, 1, 1], ramp(64, 9)),
      f32("lora_unet_mid_block_resnets_0_conv1.alpha", [], Float32Array.of(1)),
      f32("lora_te_text_model_encoder_layers_1_layer_norm1.lora_down.weight", [2, 1], ramp(2, 10)),
      f32("lora_unet_conv_in.lora_down.weight", [2, 4, 3, 3], ramp(72, 11)),
      f32("lora_unet_conv_in.lora_up.weight", [8, 2, 1, 1], ramp(16, 12)),
    ]);
    // a kohya module on a LayerNorm with only lora_down is incomplete: reported
    const b = readLoraFile(second, targets);
    assert.deepEqual(
      b.unmatched.map((u) => u.key),
      ["lora_te_text_model_encoder_layers_1_layer_norm1.lora_down.weight"],
    );
    const both = merged([
      { lora: kohya, weight: SCALE },
      { lora: b, weight: -0.4 },
    ]);
    const onlyA = merged([{ lora: kohya, weight: SCALE }]);
    const onlyB = merged([{ lora: b, weight: -0.4 }]);
    let worst = 0;
    for (const name of [
      "mid_block.resnets.0.conv1.weight",
      "conv_in.weight",
      "mid_block.resnets.0.conv2.weight",
    ]) {
      const w = model.unet.get(name);
      const sum = both.unet.get(name);
      const a = onlyA.unet.get(name);
      const c = onlyB.unet.get(name);
      const expected = w.map((v, i) => v + (a[i] - v) + (c[i] - v));
      worst = Math.max(worst, assertClose(sum, expected, 1e-6, `${name}: both vs sum of deltas`).maxAbs);
    }
    assert.ok(!bitsEqual(both.unet.get("conv_in.weight"), model.unet.get("conv_in.weight")));
    assert.deepEqual(new Set(both.unet.changedNames()).size, 279, "278 kohya targets + conv_in");
    t.diagnostic(`max |both − (W + ΔA + ΔB)| ${worst.toExponential(2)}`);
  });

  it("merging is linear in the weight: kohya@0.3 + PEFT@0.4 = kohya@0.7", () => {
    const split = merged([
      { lora: kohya, weight: 0.3 },
      { lora: peft, weight: 0.4 },
    ]);
    const whole = merged([{ lora: kohya, weight: 0.7 }]);
    for (const m of kohya.modules.slice(0, 40)) {
      assertClose(
        sourceFor(split, m.component).get(m.target),
        sourceFor(whole, m.component).get(m.target),
        1e-6,
        m.target,
      );
    }
  });

  it("rejects a non-finite weight and a module whose target the model lacks", () => {
    assert.throws(() => merged([{ lora: kohya, weight: Number.NaN }]), /finite/);
    const module = { ...kohya.modules[0], target: "no.such.weight" };
    assert.throws(
      () =>
        new LoraMergedWeightSource(model.textEncoder, "text_encoder", [
          { lora: { modules: [module] }, weight: 1 },
        ]),
      /no\.such\.weight/,
    );
  });
});

describe("LoRA fingerprint and hashes", () => {
  it("hashes the file content (sha256) and the data section (A1111 addnet hash)", async () => {
    assert.equal(kohya.sha256, await sha256File(kohyaPath));
    assert.equal(kohya.addnetHash, await safetensorsDataSha256(kohyaPath));
    assert.notEqual(kohya.sha256, peft.sha256);
    // metadata-only edits change the file hash but not the addnet hash
    const copy = readLoraFile(
      deriveLora("relabelled.safetensors", kohyaPath, (k) => k, [], { note: "x" }),
      targets,
    );
    assert.equal(copy.addnetHash, kohya.addnetHash);
    assert.notEqual(copy.sha256, kohya.sha256);
    assert.equal(basename(copy.path), "relabelled.safetensors");
  });

  it("is stable, and changes with the content, the weight and the order", () => {
    const fp = loraFingerprint([
      { lora: kohya, weight: 0.7 },
      { lora: peft, weight: 0.5 },
    ]);
    assert.equal(fp, `${kohya.sha256}@0.7;${peft.sha256}@0.5`);
    assert.equal(
      fp,
      loraFingerprint([
        { lora: { sha256: kohya.sha256 }, weight: 0.7 },
        { lora: { sha256: peft.sha256 }, weight: 0.5 },
      ]),
    );
    assert.notEqual(
      fp,
      loraFingerprint([
        { lora: kohya, weight: 0.7 },
        { lora: peft, weight: 0.55 },
      ]),
    );
    assert.notEqual(
      fp,
      loraFingerprint([
        { lora: peft, weight: 0.5 },
        { lora: kohya, weight: 0.7 },
      ]),
    );
    // weight 0 changes nothing, so it must not force a different graph
    assert.equal(loraFingerprint([{ lora: kohya, weight: 0 }]), loraFingerprint([]));
    assert.equal(loraFingerprint([]), "");
  });
});
