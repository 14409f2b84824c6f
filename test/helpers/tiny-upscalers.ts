/**
 * Tiny random ESRGAN-family weights in the layouts users have: BasicSR RRDBNet names, the old
 * ESRGAN `model.N` names, SRVGGNetCompact; written as safetensors or as a torch.save archive
 * (`params_ema` wrapper, as Real-ESRGAN releases are).
 */
import { writeSafetensors } from "../../src/weights/formats/safetensors-writer.js";
import type { Weights } from "./esrgan-reference.js";
import { writeTorchCheckpoint } from "./torch-checkpoint-writer.js";

type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

/** A small deterministic generator (LCG), values uniform in [-scale, scale). */
function randomValues(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

function conv(t: Tensors, key: string, out: number, inC: number, seed: number): void {
  // ~ Kaiming-uniform scale so activations stay O(1) through the stack
  const scale = Math.sqrt(3 / (inC * 9));
  t.set(`${key}.weight`, { shape: [out, inC, 3, 3], data: randomValues(out * inC * 9, seed, scale) });
  t.set(`${key}.bias`, { shape: [out], data: randomValues(out, seed + 7, 0.05) });
}

export interface TinyRrdb {
  blocks: number;
  features: number;
  growth: number;
  upsamples: number;
  unshuffle: number;
}

/** RRDBNet weights under BasicSR names. */
export function tinyRrdbWeights(a: TinyRrdb, seed = 1): Tensors {
  const t: Tensors = new Map();
  let s = seed * 1000;
  conv(t, "conv_first", a.features, 3 * a.unshuffle * a.unshuffle, s++);
  for (let b = 0; b < a.blocks; b++) {
    for (const d of ["rdb1", "rdb2", "rdb3"]) {
      for (let i = 1; i <= 5; i++) {
        const out = i === 5 ? a.features : a.growth;
        conv(t, `body.${b}.${d}.conv${i}`, out, a.features + (i - 1) * a.growth, s++);
      }
    }
  }
  conv(t, "conv_body", a.features, a.features, s++);
  for (let k = 1; k <= a.upsamples; k++) conv(t, `conv_up${k}`, a.features, a.features, s++);
  conv(t, "conv_hr", a.features, a.features, s++);
  conv(t, "conv_last", 3, a.features, s++);
  return t;
}

/** The same tensors under the old ESRGAN layout (model.0, model.1.sub.N.RDBk.convj.0, …). */
export function toOldEsrganLayout(t: Tensors, a: TinyRrdb): Tensors {
  const out: Tensors = new Map();
  const n = a.upsamples;
  for (const [key, value] of t) {
    let m = /^body\.(\d+)\.rdb([123])\.conv([1-5])\.(weight|bias)$/.exec(key);
    if (m) {
      out.set(`model.1.sub.${m[1]}.RDB${m[2]}.conv${m[3]}.0.${m[4]}`, value);
      continue;
    }
    m = /^(conv_\w+?)\.(weight|bias)$/.exec(key);
    if (!m) throw new Error(key);
    const [, name, kind] = m;
    const up = /^conv_up(\d+)$/.exec(name);
    const index =
      name === "conv_first"
        ? "0"
        : name === "conv_body"
          ? `1.sub.${a.blocks}`
          : up
            ? String(3 * Number(up[1]))
            : name === "conv_hr"
              ? String(3 * n + 2)
              : String(3 * n + 4);
    out.set(`model.${index}.${kind}`, value);
  }
  return out;
}

/** SRVGGNetCompact weights: body.0 conv, body.1 PReLU, …, last conv to 3·scale² channels. */
export function tinyCompactWeights(features: number, convs: number, scale: number, seed = 2): Tensors {
  const t: Tensors = new Map();
  let s = seed * 1000;
  let i = 0;
  conv(t, `body.${i++}`, features, 3, s++);
  for (let k = 0; k <= convs; k++) {
    t.set(`body.${i++}.weight`, {
      shape: [features],
      data: randomValues(features, s++, 0.25).map((v) => v + 0.25),
    });
    if (k < convs) conv(t, `body.${i++}`, features, features, s++);
  }
  conv(t, `body.${i}`, 3 * scale * scale, features, s++);
  return t;
}

export function asWeights(t: Tensors): Weights {
  return t;
}

export function writeTinySafetensors(path: string, t: Tensors): void {
  writeSafetensors(
    path,
    [...t].map(([name, v]) => ({ name, dtype: "F32" as const, shape: v.shape, data: v.data })),
  );
}

export function writeTinyPth(path: string, t: Tensors, wrapper = "params_ema"): void {
  writeTorchCheckpoint(
    path,
    [...t].map(([name, v]) => ({
      name,
      dtype: "F32" as const,
      shape: v.shape,
      data: new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength),
    })),
    wrapper,
  );
}
