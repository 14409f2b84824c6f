/**
 * LyCORIS networks (LoHa, LoKr, LoCon with a CP core, full diffs) and DoRA, merged into the tiny
 * model's weights, against a naive reference written here from the published definitions:
 *
 * - LoHa   ΔW = (w1a·w1b) ⊙ (w2a·w2b); Tucker side Σᵢⱼ t[i,j]·a[i,p]·b[j,q]
 *          (KohakuBlueleaf/LyCORIS lycoris/functional/loha.py: HadaWeight, HadaWeightTucker)
 * - LoKr   ΔW = w1 ⊗ w2 (lycoris/functional/lokr.py: make_kron; general.py: rebuild_tucker)
 * - LoCon  ΔW = einsum("n m k l, i n, m j -> i j k l", mid, up, down) (lycoris/functional/locon.py)
 * - scale  alpha / rank (LoHa: w1_b rows; LoKr: the decomposed side's rank; none for full weights),
 *          AUTOMATIC1111 extensions-builtin/Lora/network.py calc_scale
 * - DoRA   W_dora = (W + sΔ)·m / ‖W + sΔ‖, the norm per output row or per input column as m's shape
 *          says (lycoris/modules/locon.py apply_weight_decompose, with its eps); at weight w the
 *          change is w·(W_dora − W) (A1111 network.py finalize_updown; ComfyUI weight_decompose)
 *
 * The reference indexes every tensor element by element in float64; nothing is shared with
 * src/lora.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readLoraFile } from "../src/lora/lora-file.js";
import { LoraTargets } from "../src/lora/lora-targets.js";
import { mergeLoras } from "../src/lora/merge-lora.js";
import { type TensorToWrite, writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { assertClose } from "./helpers/assert-close.js";
import { openTinyLoraModel, type TinyLoraModel } from "./helpers/tiny-lora-model.js";

let model: TinyLoraModel;
let targets: LoraTargets;
let scratch: string;

before(() => {
  model = openTinyLoraModel();
  targets = new LoraTargets(model);
  scratch = mkdtempSync(join(tmpdir(), "sdlite-lycoris-"));
});

after(() => {
  model.unet.close();
  model.textEncoder.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** A tensor with deterministic values, and its shape, for the file and the reference alike. */
interface T {
  shape: number[];
  data: Float32Array;
}
let seed = 1;
function t(...shape: number[]): T {
  const n = shape.reduce((a, b) => a * b, 1);
  const s = seed++;
  return {
    shape,
    data: Float32Array.from({ length: n }, (_, i) => Math.sin(s * 12.9898 + i * 78.233) * 0.5),
  };
}
const scalar = (v: number): T => ({ shape: [], data: Float32Array.of(v) });

/** Element of a row-major tensor. */
function at(x: T, ...index: number[]): number {
  let flat = 0;
  for (let d = 0; d < x.shape.length; d++) flat = flat * x.shape[d] + (index[d] ?? 0);
  return x.data[flat];
}

let fileCount = 0;
/** Writes one module (kohya name → parts) and merges it at `weight`; returns W and W'. */
function mergeModule(kohyaName: string, target: string, parts: Record<string, T>, weight: number) {
  const tensors: TensorToWrite[] = Object.entries(parts).map(([part, x]) => ({
    name: `${kohyaName}.${part}`,
    dtype: "F32",
    shape: x.shape,
    data: x.data,
  }));
  const path = join(scratch, `module-${fileCount++}.safetensors`);
  writeSafetensors(path, tensors);
  const lora = readLoraFile(path, targets);
  assert.deepEqual(lora.unmatched, [], "every tensor is part of a module");
  const source = kohyaName.startsWith("lora_te_") ? "textEncoder" : "unet";
  const merged = mergeLoras(model, [{ lora, weight }])[source];
  return { base: model[source].get(target), merged: merged.get(target), shape: model[source].shape(target) };
}

/** Checks W' = W + weight·scale·Δ(o, j) for a delta given per flattened [out, fanIn] element. */
function expectDelta(
  result: ReturnType<typeof mergeModule>,
  delta: (o: number, j: number) => number,
  factor: number,
  label: string,
) {
  const out = result.shape[0];
  const fanIn = result.base.length / out;
  const expected = new Float64Array(result.base.length);
  for (let o = 0; o < out; o++)
    for (let j = 0; j < fanIn; j++)
      expected[o * fanIn + j] = result.base[o * fanIn + j] + factor * delta(o, j);
  assertClose(result.merged, expected, 2e-6, label);
  const moved = assertClose(result.merged, result.base, Number.POSITIVE_INFINITY, "effect").maxAbs;
  assert.ok(moved > 1e-3, `${label}: the module changed the weight by only ${moved}`);
}

/** (kernel) index helpers for a [out, in, kh, kw] weight viewed as [out, in·kh·kw]. */
const split = (j: number, kernel: number) => [Math.floor(j / kernel), j % kernel] as const;

const FF0 = [
  "lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj",
  "mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj.weight",
] as const; // [256, 32]
const FF2 = [
  "lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_2",
  "mid_block.attentions.0.transformer_blocks.0.ff.net.2.weight",
] as const; // [32, 128]
const CONV = ["lora_unet_down_blocks_1_resnets_0_conv1", "down_blocks.1.resnets.0.conv1.weight"] as const; // [16, 8, 3, 3]
const TIME = [
  "lora_unet_down_blocks_1_resnets_0_time_emb_proj",
  "down_blocks.1.resnets.0.time_emb_proj.weight",
] as const; // [16, 32]
const TE_FC1 = [
  "lora_te_text_model_encoder_layers_0_mlp_fc1",
  "text_model.encoder.layers.0.mlp.fc1.weight",
] as const; // [37, 32]

describe("LoHa", () => {
  it("linear: (w1a·w1b) ⊙ (w2a·w2b) · alpha/rank · weight", () => {
    const [w1a, w1b, w2a, w2b] = [t(256, 3), t(3, 32), t(256, 3), t(3, 32)];
    const r = mergeModule(
      FF0[0],
      FF0[1],
      { hada_w1_a: w1a, hada_w1_b: w1b, hada_w2_a: w2a, hada_w2_b: w2b, alpha: scalar(2) },
      0.8,
    );
    const lowRank = (a: T, b: T, o: number, j: number) => {
      let s = 0;
      for (let k = 0; k < a.shape[1]; k++) s += at(a, o, k) * at(b, k, j);
      return s;
    };
    expectDelta(r, (o, j) => lowRank(w1a, w1b, o, j) * lowRank(w2a, w2b, o, j), 0.8 * (2 / 3), "LoHa linear");
  });

  it("text encoder too, and a 3x3 conv with the kernel folded into w1_b/w2_b", () => {
    const [a1, b1, a2, b2] = [t(37, 2), t(2, 32), t(37, 2), t(2, 32)];
    const te = mergeModule(
      TE_FC1[0],
      TE_FC1[1],
      { hada_w1_a: a1, hada_w1_b: b1, hada_w2_a: a2, hada_w2_b: b2 },
      1,
    );
    const lr = (a: T, b: T, o: number, j: number) => at(a, o, 0) * at(b, 0, j) + at(a, o, 1) * at(b, 1, j);
    expectDelta(
      te,
      (o, j) => lr(a1, b1, o, j) * lr(a2, b2, o, j),
      1,
      "LoHa text encoder (no alpha: scale 1)",
    );

    const [c1a, c1b, c2a, c2b] = [t(16, 2), t(2, 8, 3, 3), t(16, 2), t(2, 72)];
    const conv = mergeModule(
      CONV[0],
      CONV[1],
      { hada_w1_a: c1a, hada_w1_b: c1b, hada_w2_a: c2a, hada_w2_b: c2b, alpha: scalar(1) },
      -0.5,
    );
    expectDelta(
      conv,
      (o, j) => {
        const [i, k] = split(j, 9);
        const one =
          at(c1a, o, 0) * at(c1b, 0, i, Math.floor(k / 3), k % 3) +
          at(c1a, o, 1) * at(c1b, 1, i, Math.floor(k / 3), k % 3);
        const two = at(c2a, o, 0) * at(c2b, 0, j) + at(c2a, o, 1) * at(c2b, 1, j);
        return one * two;
      },
      -0.5 * (1 / 2),
      "LoHa conv",
    );
  });

  it("Tucker (hada_t1, hada_t2): Σᵢⱼ t[i,j,y,x]·a[i,o]·b[j,in] on each side", () => {
    const [t1, a1, b1, t2, a2, b2] = [t(2, 2, 3, 3), t(2, 16), t(2, 8), t(2, 2, 3, 3), t(2, 16), t(2, 8)];
    const r = mergeModule(
      CONV[0],
      CONV[1],
      {
        hada_t1: t1,
        hada_w1_a: a1,
        hada_w1_b: b1,
        hada_t2: t2,
        hada_w2_a: a2,
        hada_w2_b: b2,
        alpha: scalar(4),
      },
      1,
    );
    const rebuild = (core: T, a: T, b: T, o: number, i: number, y: number, x: number) => {
      let s = 0;
      for (let p = 0; p < 2; p++)
        for (let q = 0; q < 2; q++) s += at(core, p, q, y, x) * at(a, p, o) * at(b, q, i);
      return s;
    };
    expectDelta(
      r,
      (o, j) => {
        const [i, k] = split(j, 9);
        const [y, x] = [Math.floor(k / 3), k % 3];
        return rebuild(t1, a1, b1, o, i, y, x) * rebuild(t2, a2, b2, o, i, y, x);
      },
      4 / 2,
      "LoHa Tucker",
    );
  });
});

/** w1 ⊗ w2 by definition: K[a·o2 + c, b·i2 + d] = w1[a, b]·w2[c, d]. */
function kron(
  w1: (a: number, b: number) => number,
  w2: (c: number, d: number) => number,
  o2: number,
  i2: number,
) {
  return (o: number, j: number) => w1(Math.floor(o / o2), Math.floor(j / i2)) * w2(o % o2, j % i2);
}

describe("LoKr", () => {
  it("linear: full w1 ⊗ (w2_a·w2_b), alpha over w2's rank", () => {
    const [w1, w2a, w2b] = [t(16, 4), t(16, 3), t(3, 8)];
    const r = mergeModule(
      FF0[0],
      FF0[1],
      { lokr_w1: w1, lokr_w2_a: w2a, lokr_w2_b: w2b, alpha: scalar(6) },
      0.7,
    );
    const w2 = (c: number, d: number) =>
      at(w2a, c, 0) * at(w2b, 0, d) + at(w2a, c, 1) * at(w2b, 1, d) + at(w2a, c, 2) * at(w2b, 2, d);
    expectDelta(
      r,
      kron((a, b) => at(w1, a, b), w2, 16, 8),
      0.7 * (6 / 3),
      "LoKr linear",
    );
  });

  it("conv: (w1_a·w1_b) ⊗ a full 3x3 w2, and both full (alpha then changes nothing)", () => {
    const [w1a, w1b, w2] = [t(4, 2), t(2, 2), t(4, 4, 3, 3)];
    const r = mergeModule(
      CONV[0],
      CONV[1],
      { lokr_w1_a: w1a, lokr_w1_b: w1b, lokr_w2: w2, alpha: scalar(1) },
      1,
    );
    const w1 = (a: number, b: number) => at(w1a, a, 0) * at(w1b, 0, b) + at(w1a, a, 1) * at(w1b, 1, b);
    // [16, 8, 3, 3] = [4·4, 2·4, 3, 3]: the kernel rides with w2
    expectDelta(
      r,
      (o, j) => {
        const [i, k] = split(j, 9);
        return w1(Math.floor(o / 4), Math.floor(i / 4)) * at(w2, o % 4, i % 4, Math.floor(k / 3), k % 3);
      },
      1 / 2,
      "LoKr conv",
    );

    const [f1, f2] = [t(8, 4), t(2, 8)];
    const full = mergeModule(TIME[0], TIME[1], { lokr_w1: f1, lokr_w2: f2, alpha: scalar(100) }, 1);
    expectDelta(
      full,
      kron(
        (a, b) => at(f1, a, b),
        (c, d) => at(f2, c, d),
        2,
        8,
      ),
      1,
      "LoKr both full",
    );
  });

  it("w2 with a Tucker core (lokr_t2)", () => {
    const [w1, t2, w2a, w2b] = [t(2, 2), t(3, 3, 3, 3), t(3, 8), t(3, 4)];
    const r = mergeModule(
      CONV[0],
      CONV[1],
      { lokr_w1: w1, lokr_t2: t2, lokr_w2_a: w2a, lokr_w2_b: w2b, alpha: scalar(1.5) },
      1,
    );
    const w2 = (c: number, d: number, y: number, x: number) => {
      let s = 0;
      for (let p = 0; p < 3; p++)
        for (let q = 0; q < 3; q++) s += at(t2, p, q, y, x) * at(w2a, p, c) * at(w2b, q, d);
      return s;
    };
    expectDelta(
      r,
      (o, j) => {
        const [i, k] = split(j, 9);
        return at(w1, Math.floor(o / 8), Math.floor(i / 4)) * w2(o % 8, i % 4, Math.floor(k / 3), k % 3);
      },
      1.5 / 3,
      "LoKr Tucker",
    );
  });
});

describe("LoCon with a CP core, full diffs, and the file's scale", () => {
  it("lora_mid: Σₙₘ mid[n,m,y,x]·up[o,n]·down[m,i]", () => {
    const [up, mid, down] = [t(16, 2, 1, 1), t(2, 3, 3, 3), t(3, 8, 1, 1)];
    const r = mergeModule(
      CONV[0],
      CONV[1],
      { "lora_up.weight": up, "lora_mid.weight": mid, "lora_down.weight": down, alpha: scalar(1) },
      0.9,
    );
    expectDelta(
      r,
      (o, j) => {
        const [i, k] = split(j, 9);
        let s = 0;
        for (let n = 0; n < 2; n++)
          for (let m = 0; m < 3; m++)
            s += at(mid, n, m, Math.floor(k / 3), k % 3) * at(up, o, n) * at(down, m, i);
        return s;
      },
      0.9 * (1 / 3),
      "LoCon CP",
    );
  });

  it("full: diff (alpha ignored) and diff_b on the bias, both times the weight", () => {
    const [diff, diffB] = [t(16, 32), t(16)];
    const r = mergeModule(TIME[0], TIME[1], { diff, diff_b: diffB, alpha: scalar(8) }, 0.5);
    expectDelta(r, (o, j) => at(diff, o, j), 0.5, "full diff");
    const lora = readLoraFile(join(scratch, `module-${fileCount - 1}.safetensors`), targets);
    const bias = mergeLoras(model, [{ lora, weight: 0.5 }]).unet.get(
      "down_blocks.1.resnets.0.time_emb_proj.bias",
    );
    const base = model.unet.get("down_blocks.1.resnets.0.time_emb_proj.bias");
    assertClose(
      bias,
      Float64Array.from(base, (v, o) => v + 0.5 * diffB.data[o]),
      1e-6,
      "diff_b on the bias",
    );
  });

  it("a `scale` tensor replaces alpha/rank", () => {
    const [up, down] = [t(32, 2), t(2, 128)];
    const r = mergeModule(
      FF2[0],
      FF2[1],
      { "lora_up.weight": up, "lora_down.weight": down, alpha: scalar(1), scale: scalar(3) },
      1,
    );
    expectDelta(
      r,
      (o, j) => at(up, o, 0) * at(down, 0, j) + at(up, o, 1) * at(down, 1, j),
      3,
      "scale tensor",
    );
  });
});

/** The DoRA reference: W + w·((W + sΔ)·m/(‖W + sΔ‖ + eps) − W), the norm along `axis`. */
function doraExpected(
  base: Float32Array,
  shape: readonly number[],
  sDelta: (o: number, j: number) => number,
  magnitude: Float32Array,
  axis: "out" | "in",
  weight: number,
): Float64Array {
  const out = shape[0];
  const fanIn = base.length / out;
  const kernel = fanIn / shape[1];
  const merged = Float64Array.from(base, (v, idx) => v + sDelta(Math.floor(idx / fanIn), idx % fanIn));
  const group = (idx: number) =>
    axis === "out" ? Math.floor(idx / fanIn) : Math.floor((idx % fanIn) / kernel);
  const sums = new Float64Array(axis === "out" ? out : shape[1]);
  merged.forEach((v, idx) => {
    sums[group(idx)] += v * v;
  });
  const eps = 2 ** -23; // torch.finfo(torch.float32).eps
  return Float64Array.from(merged, (v, idx) => {
    const dora = (v * magnitude[group(idx)]) / (Math.sqrt(sums[group(idx)]) + eps);
    return base[idx] + weight * (dora - base[idx]);
  });
}

describe("DoRA (dora_scale)", () => {
  const [up, down] = [t(32, 2), t(2, 128)];
  const lowRank = (o: number, j: number) =>
    (at(up, o, 0) * at(down, 0, j) + at(up, o, 1) * at(down, 1, j)) * (4 / 2);
  const parts = { "lora_up.weight": up, "lora_down.weight": down, alpha: scalar(4) };

  for (const [axis, magnitude] of [
    ["out", t(32, 1)],
    ["in", t(1, 128)],
  ] as const) {
    for (const weight of [1, 0.6]) {
      it(`per ${axis === "out" ? "output row [32, 1]" : "input column [1, 128]"} on a linear LoRA at weight ${weight}`, () => {
        const m = { shape: magnitude.shape, data: magnitude.data.map((v) => 1 + Math.abs(v)) };
        const r = mergeModule(FF2[0], FF2[1], { ...parts, dora_scale: m }, weight);
        const expected = doraExpected(r.base, r.shape, lowRank, m.data, axis, weight);
        assertClose(r.merged, expected, 2e-6, `DoRA ${axis} @ ${weight}`);
      });
    }
  }

  it("per input channel [1, 8, 1, 1] on a LoHa 3x3 conv (the norm spans out and the kernel)", () => {
    const [a1, b1, a2, b2] = [t(16, 2), t(2, 72), t(16, 2), t(2, 72)];
    const m = { shape: [1, 8, 1, 1], data: Float32Array.from({ length: 8 }, (_, i) => 0.5 + i / 10) };
    const r = mergeModule(
      CONV[0],
      CONV[1],
      { hada_w1_a: a1, hada_w1_b: b1, hada_w2_a: a2, hada_w2_b: b2, alpha: scalar(1), dora_scale: m },
      0.75,
    );
    const lr = (a: T, b: T, o: number, j: number) => at(a, o, 0) * at(b, 0, j) + at(a, o, 1) * at(b, 1, j);
    const delta = (o: number, j: number) => lr(a1, b1, o, j) * lr(a2, b2, o, j) * 0.5;
    assertClose(r.merged, doraExpected(r.base, r.shape, delta, m.data, "in", 0.75), 2e-6, "DoRA LoHa conv");
  });
});

describe("LyCORIS modules that do not fit", () => {
  const write = (tensors: Record<string, T>) => {
    const path = join(scratch, `bad-${fileCount++}.safetensors`);
    writeSafetensors(
      path,
      Object.entries(tensors).map(([name, x]) => ({
        name,
        dtype: "F32" as const,
        shape: x.shape,
        data: x.data,
      })),
    );
    return path;
  };

  it("are refused with the module, its change and the weight's shape", () => {
    const lokr = write({ [`${FF0[0]}.lokr_w1`]: t(8, 4), [`${FF0[0]}.lokr_w2`]: t(16, 8) });
    assert.throws(
      () => readLoraFile(lokr, targets),
      /lokr module ".*ff_net_0_proj" makes a \[128, 32\] change.*\[256, 32\]/,
    );
    const dora = write({
      [`${FF2[0]}.lora_up.weight`]: t(32, 2),
      [`${FF2[0]}.lora_down.weight`]: t(2, 128),
      [`${FF2[0]}.dora_scale`]: t(1, 64),
    });
    assert.throws(() => readLoraFile(dora, targets), /dora_scale \[1, 64\] fits neither/);
  });

  it("incomplete or unsupported ones are reported as unmatched keys, the rest still applies", () => {
    const path = write({
      [`${FF0[0]}.hada_w1_a`]: t(256, 2),
      [`${FF0[0]}.hada_w1_b`]: t(2, 32),
      [`${FF2[0]}.w_norm`]: t(32),
      [`${TIME[0]}.diff`]: t(16, 32),
    });
    const lora = readLoraFile(path, targets);
    assert.deepEqual(
      lora.unmatched.map((u) => [u.key, /LoHa.*lacks|norm layers/.test(u.reason)]),
      [
        [`${FF0[0]}.hada_w1_a`, true],
        [`${FF0[0]}.hada_w1_b`, true],
        [`${FF2[0]}.w_norm`, true],
      ],
    );
    assert.deepEqual(
      lora.modules.map((m) => [m.type, m.target]),
      [["full", TIME[1]]],
    );
  });
});
