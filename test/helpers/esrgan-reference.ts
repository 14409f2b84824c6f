/**
 * An independent, naive forward pass of BasicSR's RRDBNet and SRVGGNetCompact on CHW float planes
 * (plain loops: 3x3 conv with zero padding, LeakyReLU, nearest ×2, PReLU, pixel shuffle and
 * unshuffle written from torch's definitions), to check the ONNX graphs against.
 */

export interface Planes {
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly data: Float32Array;
}

export type Weights = ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>;

function get(weights: Weights, key: string) {
  const t = weights.get(key);
  if (!t) throw new Error(`reference: no weight ${key}`);
  return t;
}

export function conv3x3(x: Planes, weights: Weights, key: string): Planes {
  const w = get(weights, `${key}.weight`);
  const bias = get(weights, `${key}.bias`).data;
  const [outC, inC] = w.shape;
  if (inC !== x.c) throw new Error(`reference: ${key} takes ${inC} channels, got ${x.c}`);
  const out = new Float32Array(outC * x.h * x.w);
  for (let o = 0; o < outC; o++) {
    for (let y = 0; y < x.h; y++) {
      for (let xx = 0; xx < x.w; xx++) {
        let acc = bias[o];
        for (let i = 0; i < inC; i++) {
          for (let ky = 0; ky < 3; ky++) {
            const sy = y + ky - 1;
            if (sy < 0 || sy >= x.h) continue;
            for (let kx = 0; kx < 3; kx++) {
              const sx = xx + kx - 1;
              if (sx < 0 || sx >= x.w) continue;
              acc += w.data[((o * inC + i) * 3 + ky) * 3 + kx] * x.data[(i * x.h + sy) * x.w + sx];
            }
          }
        }
        out[(o * x.h + y) * x.w + xx] = acc;
      }
    }
  }
  return { c: outC, h: x.h, w: x.w, data: out };
}

const map = (x: Planes, f: (v: number, c: number) => number): Planes => {
  const plane = x.h * x.w;
  return { ...x, data: x.data.map((v, i) => f(v, Math.floor(i / plane))) };
};
export const leakyRelu = (x: Planes) => map(x, (v) => (v >= 0 ? v : 0.2 * v));
const add = (a: Planes, b: Planes, scaleA = 1) => ({
  ...a,
  data: a.data.map((v, i) => v * scaleA + b.data[i]),
});
const concat = (parts: readonly Planes[]): Planes => {
  const data = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p.data, at);
    at += p.data.length;
  }
  return { c: parts.reduce((n, p) => n + p.c, 0), h: parts[0].h, w: parts[0].w, data };
};

export function nearestUp(x: Planes, r: number): Planes {
  const out = new Float32Array(x.c * x.h * r * x.w * r);
  for (let c = 0; c < x.c; c++)
    for (let y = 0; y < x.h * r; y++)
      for (let xx = 0; xx < x.w * r; xx++)
        out[(c * x.h * r + y) * x.w * r + xx] =
          x.data[(c * x.h + Math.floor(y / r)) * x.w + Math.floor(xx / r)];
  return { c: x.c, h: x.h * r, w: x.w * r, data: out };
}

/** torch.pixel_shuffle: out[c, h·r+i, w·r+j] = in[c·r²+i·r+j, h, w]. */
export function pixelShuffle(x: Planes, r: number): Planes {
  const c = x.c / (r * r);
  const out = new Float32Array(x.data.length);
  const W = x.w * r;
  const H = x.h * r;
  for (let ch = 0; ch < c; ch++)
    for (let i = 0; i < r; i++)
      for (let j = 0; j < r; j++)
        for (let y = 0; y < x.h; y++)
          for (let xx = 0; xx < x.w; xx++)
            out[(ch * H + y * r + i) * W + xx * r + j] =
              x.data[((ch * r * r + i * r + j) * x.h + y) * x.w + xx];
  return { c, h: H, w: W, data: out };
}

/** BasicSR pixel_unshuffle: out[c·r²+i·r+j, h, w] = in[c, h·r+i, w·r+j]. */
export function pixelUnshuffle(x: Planes, r: number): Planes {
  const h = x.h / r;
  const w = x.w / r;
  const out = new Float32Array(x.data.length);
  for (let ch = 0; ch < x.c; ch++)
    for (let i = 0; i < r; i++)
      for (let j = 0; j < r; j++)
        for (let y = 0; y < h; y++)
          for (let xx = 0; xx < w; xx++)
            out[((ch * r * r + i * r + j) * h + y) * w + xx] =
              x.data[(ch * x.h + y * r + i) * x.w + xx * r + j];
  return { c: x.c * r * r, h, w, data: out };
}

function denseBlock(x: Planes, weights: Weights, key: string): Planes {
  const seen = [x];
  for (let i = 1; i <= 4; i++) seen.push(leakyRelu(conv3x3(concat(seen), weights, `${key}.conv${i}`)));
  return add(conv3x3(concat(seen), weights, `${key}.conv5`), x, 0.2);
}

export function rrdbNetReference(
  x: Planes,
  weights: Weights,
  blocks: number,
  upsamples: number,
  unshuffle: number,
): Planes {
  let feat = conv3x3(unshuffle > 1 ? pixelUnshuffle(x, unshuffle) : x, weights, "conv_first");
  let body = feat;
  for (let b = 0; b < blocks; b++) {
    let out = body;
    for (const d of ["rdb1", "rdb2", "rdb3"]) out = denseBlock(out, weights, `body.${b}.${d}`);
    body = add(out, body, 0.2);
  }
  feat = add(conv3x3(body, weights, "conv_body"), feat);
  for (let k = 1; k <= upsamples; k++) feat = leakyRelu(conv3x3(nearestUp(feat, 2), weights, `conv_up${k}`));
  return conv3x3(leakyRelu(conv3x3(feat, weights, "conv_hr")), weights, "conv_last");
}

export function compactReference(x: Planes, weights: Weights, convs: number, scale: number): Planes {
  let out = x;
  const last = 2 * (convs + 1);
  for (let i = 0; i <= last; i += 2) {
    out = conv3x3(out, weights, `body.${i}`);
    if (i === last) break;
    const slope = get(weights, `body.${i + 1}.weight`).data;
    out = map(out, (v, c) => (v >= 0 ? v : slope[c] * v));
  }
  return add(pixelShuffle(out, scale), nearestUp(x, scale));
}
