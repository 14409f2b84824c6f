/**
 * The weight change of one LoRA/LyCORIS module, dense, in float64, as AUTOMATIC1111's Lora
 * extension computes it (extensions-builtin/Lora: network_lora, network_hada, network_lokr,
 * network_full, network.finalize_updown) after LyCORIS' definitions (lycoris/functional):
 *
 * - LoRA: up @ down; with a CP core (LoCon `lora_mid`): Σₙₘ mid[n,m]·up[:,n]·down[m,:]
 * - LoHa: (w1a @ w1b) ⊙ (w2a @ w2b); a Tucker side: Σᵢⱼ t[i,j]·a[i,:]ᵀ·b[j,:]
 * - LoKr: w1 ⊗ w2 (each full, a @ b, or w2 with a Tucker core)
 * - full: the stored diff
 *
 * then × scale, then DoRA (W + Δ rescaled to the stored magnitudes, minus W), then × the
 * `<lora:name:weight>` multiplier. Every delta is viewed as [out, in·kh·kw].
 */
import type { FactorPair, LoraModule, LoraTensor } from "./lora-module.js";

/** torch.finfo(float32).eps, which LyCORIS adds to the DoRA norms (so a zero column cannot divide by 0). */
const EPS = 2 ** -23;

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

function isPair(w: LoraTensor | FactorPair): w is FactorPair {
  return "a" in w;
}

/** [rows, cols] of a factor's matrix: a @ b is [a.rows, b's flattened rest], a Tucker rebuild [a.shape[1], b.shape[1]·k]. */
function factorShape(w: LoraTensor | FactorPair): [number, number] {
  if (!isPair(w)) return [w.shape[0], product(w.shape.slice(1))];
  if (w.t) return [w.a.shape[1], w.b.shape[1] * product(w.t.shape.slice(2))];
  return [w.a.shape[0], product(w.b.shape.slice(1))];
}

/** [out, fanIn] of the module's delta, from its factors' shapes alone. */
export function deltaShape(m: LoraModule): [number, number] {
  switch (m.type) {
    case "lora":
      return [
        m.up.shape[0],
        m.mid ? m.down.shape[1] * product(m.mid.shape.slice(2)) : product(m.down.shape.slice(1)),
      ];
    case "loha":
      return factorShape(m.w1);
    case "lokr": {
      const [o1, i1] = factorShape(m.w1);
      const [o2, i2] = factorShape(m.w2);
      return [o1 * o2, i1 * i2];
    }
    case "full":
      return [m.diff.shape[0], product(m.diff.shape.slice(1))];
  }
}

/** a [n, k] @ b [k, m] → [n, m]. */
function matmul(a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < k; r++) {
      const v = a[i * k + r];
      if (v === 0) continue;
      for (let j = 0; j < m; j++) out[i * m + j] += v * b[r * m + j];
    }
  }
  return out;
}

/**
 * Tucker/CP rebuild: t [r1, r2, K], wa [r1, O], wb [r2, I] → [O, I·K] with
 * out[p, q, k] = Σᵢⱼ t[i, j, k]·wa[i, p]·wb[j, q] (LyCORIS rebuild_tucker, A1111 make_weight_cp).
 */
function tucker(t: LoraTensor, wa: ArrayLike<number>, wb: ArrayLike<number>, outDim: number, inDim: number) {
  const [r1, r2] = t.shape;
  const kernel = product(t.shape.slice(2));
  // temp[i, q, k] = Σⱼ t[i, j, k]·wb[j, q]
  const temp = new Float64Array(r1 * inDim * kernel);
  for (let i = 0; i < r1; i++)
    for (let j = 0; j < r2; j++)
      for (let k = 0; k < kernel; k++) {
        const v = t.data[(i * r2 + j) * kernel + k];
        if (v === 0) continue;
        for (let q = 0; q < inDim; q++) temp[(i * inDim + q) * kernel + k] += v * wb[j * inDim + q];
      }
  const out = new Float64Array(outDim * inDim * kernel);
  for (let i = 0; i < r1; i++)
    for (let p = 0; p < outDim; p++) {
      const v = wa[i * outDim + p];
      if (v === 0) continue;
      const row = p * inDim * kernel;
      const src = i * inDim * kernel;
      for (let x = 0; x < inDim * kernel; x++) out[row + x] += v * temp[src + x];
    }
  return out;
}

function factor(w: LoraTensor | FactorPair): Float64Array {
  if (!isPair(w)) return Float64Array.from(w.data);
  const [rows, cols] = factorShape(w);
  if (w.t) return tucker(w.t, w.a.data, w.b.data, rows, w.b.shape[1]);
  return matmul(w.a.data, w.b.data, rows, w.a.shape[1] ?? 1, cols);
}

/** The module's delta before its scale, [out, fanIn] (A1111's calc_updown). */
export function moduleDelta(m: LoraModule): Float64Array {
  const [out, fanIn] = deltaShape(m);
  switch (m.type) {
    case "lora": {
      const rank = m.down.shape[0];
      if (!m.mid) return matmul(m.up.data, m.down.data, out, rank, fanIn);
      // up [out, n] as the core's [n, out] side
      const n = m.up.shape[1];
      const upT = new Float64Array(n * out);
      for (let o = 0; o < out; o++) for (let k = 0; k < n; k++) upT[k * out + o] = m.up.data[o * n + k];
      return tucker(m.mid, upT, m.down.data, out, m.down.shape[1]);
    }
    case "loha": {
      const a = factor(m.w1);
      const b = factor(m.w2);
      for (let i = 0; i < a.length; i++) a[i] *= b[i];
      return a;
    }
    case "lokr": {
      const [o1, i1] = factorShape(m.w1);
      const [o2, i2] = factorShape(m.w2);
      const w1 = factor(m.w1);
      const w2 = factor(m.w2);
      const result = new Float64Array(out * fanIn);
      for (let a = 0; a < o1; a++)
        for (let b = 0; b < i1; b++) {
          const v = w1[a * i1 + b];
          if (v === 0) continue;
          for (let c = 0; c < o2; c++) {
            const row = (a * o2 + c) * fanIn + b * i2;
            for (let d = 0; d < i2; d++) result[row + d] = v * w2[c * i2 + d];
          }
        }
      return result;
    }
    case "full":
      return Float64Array.from(m.diff.data);
  }
}

/** Which axis a DoRA magnitude vector runs along for a weight of shape `target`, or why it fits none. */
export function doraAxis(scale: LoraTensor, target: readonly number[]): "out" | "in" | string {
  const n = product(scale.shape);
  // LyCORIS ≥ 3 and PEFT store [out, 1, …]; the DoRA paper, kohya and older LyCORIS [1, in, …]
  if (scale.shape[0] === target[0] && n === target[0]) return "out";
  if (n === target[1]) return "in";
  return `dora_scale [${scale.shape.join(", ")}] fits neither the output nor the input axis of [${target.join(", ")}]`;
}

/**
 * What the module adds to the weight `base` (shape `target`) at `weight`: weight·scale·Δ, or with
 * DoRA weight·((W + scale·Δ)·m/‖W + scale·Δ‖ − W), as A1111's finalize_updown orders it.
 */
export function moduleContribution(
  m: LoraModule,
  base: Float32Array,
  target: readonly number[],
  weight: number,
): Float64Array {
  const delta = moduleDelta(m);
  if (!m.doraScale) {
    const factor = weight * m.scale;
    for (let i = 0; i < delta.length; i++) delta[i] *= factor;
    return delta;
  }
  const out = target[0];
  const fanIn = base.length / out;
  const merged = new Float64Array(delta.length);
  for (let i = 0; i < delta.length; i++) merged[i] = base[i] + m.scale * delta[i];
  const axis = doraAxis(m.doraScale, target);
  const kernel = product(target.slice(2));
  const index =
    axis === "out" ? (i: number) => Math.floor(i / fanIn) : (i: number) => Math.floor((i % fanIn) / kernel);
  const norms = new Float64Array(axis === "out" ? out : target[1]);
  for (let i = 0; i < merged.length; i++) norms[index(i)] += merged[i] * merged[i];
  const ratio = Float64Array.from(norms, (s, k) => m.doraScale!.data[k] / (Math.sqrt(s) + EPS));
  for (let i = 0; i < merged.length; i++) merged[i] = weight * (merged[i] * ratio[index(i)] - base[i]);
  return merged;
}
