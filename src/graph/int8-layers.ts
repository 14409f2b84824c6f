/**
 * int8 variants of nn.Linear and nn.Conv2d with dynamic activation quantization: the activation is
 * quantized per tensor to uint8 when the graph runs (DynamicQuantizeLinear), the weight per output
 * channel to int8 when the graph is built, and onnxruntime multiplies them with its u8s8 integer
 * GEMM (vpmaddubsw on AVX2, VNNI/AMX where present), scaling the int32 sums back to float32.
 *
 * Why these ops (measured on onnxruntime-node 1.30 CPU, see scripts/int8-op-bench.ts):
 * - DynamicQuantizeMatMul beat fp32 MatMul on every SD linear shape; weight-only MatMulNBits (8 bits)
 *   was no faster than fp32 at any block size (it dequantizes or requantizes per block).
 * - ConvInteger is slower than the fp32 NCHWc conv (int8 weights even 5x slower); QLinearConv is fast
 *   but needs a static output scale (calibration). So a conv is an NHWC im2col of the uint8
 *   activation (Pad with the zero point, kh·kw shifted Slices, Concat) into MatMulIntegerToFloat.
 * Whole SD1.5 UNet at 64×64, batch 1, 2 cores with AVX-512 VNNI/AMX (scripts/unet-speed-options.ts):
 * fp32 2.78 s, int8 linears only 2.31 s, int8 linears + convs 1.28 s. On AVX2 without VNNI the
 * integer GEMM's advantage over fp32 is much smaller: re-measure there before relying on it.
 *
 * Where a full-size int8 step goes (session 8, docs/benchmarks.md "Where the int8 UNet step goes"):
 * integer GEMMs about half, fp32 MultiHeadAttention about a third; the conv's layout work (the
 * im2col's Pad, Slices and Concat, both Transposes, DynamicQuantizeLinear) under 6 %. INT8_FUSIONS
 * remove layout work between int8 layers without changing an output value. Session 8 measured no
 * whole-step gain on the AMD EPYC; session 12, on an Intel Xeon, 1.05x (AVX-512 VNNI) to 1.11x (AMX)
 * the step and a faster fresh start for token-projections + geglu-halves + gather-im2col, which the
 * engine's int8 UNet builds since (unet-quantization.ts UNET_INT8_FUSIONS).
 */
import { type GraphBuilder, MS_DOMAIN } from "./graph-builder.js";
import type { LayerContext } from "./layers.js";
import {
  convWeightToColumns,
  INT7_MAX,
  INT8_MAX,
  type Int8Rows,
  quantizeRowsInt8,
  transposeInt8,
} from "./quantize.js";

/** Which layers (by checkpoint key) a graph builds in int8, and how wide their weight codes are. */
export interface Int8Policy {
  linear(key: string): boolean;
  conv(key: string): boolean;
  /** 7 ("reduce range") where the CPU's u8s8 GEMM could saturate (x86 without VNNI), else 8. */
  readonly weightBits: 7 | 8;
  /** Graph forms that skip layout work between int8 layers (INT8_FUSIONS); none when absent. */
  readonly fusions?: ReadonlySet<Int8Fusion>;
  /** "gather-im2col": one graph's pixel indices per resolution level (LayerContext.resolutionLevel). */
  readonly im2colWindows?: Map<number, string>;
}

/**
 * Ways a network builds its int8 layers with less layout work, same numerics (docs/benchmarks.md "Where
 * the int8 UNet step goes", "Session 12: the int8 layout fusions"); the engine's int8 UNet takes
 * UNET_INT8_FUSIONS:
 * - "token-projections": a transformer's 1x1 proj_in/proj_out act on its tokens directly (proj_in
 *   ends channels-last, proj_out is a linear on the tokens), not NCHW → NHWC → NCHW → tokens.
 * - "self-qkv": a self-attention's q, k and v linears as one product over their stacked weights
 *   (the input quantized once), split after.
 * - "geglu-halves": GEGLU's projection as two products (hidden and gate halves), no float32 Split.
 * - "gather-im2col": a stride-1 3x3 conv's im2col as one Gather through pixel indices
 *   (conv3x3WindowIndices, once per resolution level where the builder sets
 *   LayerContext.resolutionLevel, else per conv), not a Pad, nine Slices and a Concat.
 */
export const INT8_FUSIONS = ["token-projections", "self-qkv", "geglu-halves", "gather-im2col"] as const;
export type Int8Fusion = (typeof INT8_FUSIONS)[number];

/** A Slice end past any axis: windows that reach the padded edge run to the end. */
const TO_END = Number.MAX_SAFE_INTEGER;

/**
 * Two initializers (codes and scales) from one quantization, computed when the first is written;
 * each part is dropped once written, so a multi-GB network is never held quantized and unquantized
 * at once (a second serialisation quantizes again).
 */
function sharedQuantization(compute: () => { values: Int8Array; scales: Float32Array }) {
  let values: Int8Array | undefined;
  let scales: Float32Array | undefined;
  const fill = () => {
    ({ values, scales } = compute());
  };
  return {
    values: () => {
      if (!values) fill();
      const v = values as Int8Array;
      values = undefined;
      return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    },
    scales: () => {
      if (!scales) fill();
      const s = scales as Float32Array;
      scales = undefined;
      return s;
    },
  };
}

function quantizedWeight(
  ctx: LayerContext,
  key: string,
  dims: readonly number[],
  layout: (q: Int8Rows) => Int8Array,
): { values: string; scales: string } {
  return stackedQuantizedWeight(ctx, [{ key }], key, dims, layout);
}

/** Output rows [start, end) of a checkpoint weight; all of them when `rows` is absent. */
interface WeightRows {
  readonly key: string;
  readonly rows?: readonly [number, number];
}

/**
 * The weights (or row ranges) of `parts` (same input width) stacked on the output axis and quantized
 * per output row, as `name`: each row keeps the codes and scale it has alone, so one product over the
 * stack equals the separate products.
 */
function stackedQuantizedWeight(
  ctx: LayerContext,
  parts: readonly WeightRows[],
  name: string,
  dims: readonly number[],
  layout: (q: Int8Rows) => Int8Array,
): { values: string; scales: string } {
  const { b, weights } = ctx;
  for (const { key } of parts) {
    if (!weights.has(`${key}.weight`))
      throw new Error(`graph "${b.name}": weight "${key}.weight" is missing from the checkpoint`);
  }
  const shapes = parts.map(({ key }) => weights.shape(`${key}.weight`));
  const cols = shapes[0].reduce((n, d) => n * d, 1) / shapes[0][0];
  const ranges = parts.map((p, i) => p.rows ?? ([0, shapes[i][0]] as const));
  const rows = ranges.reduce((n, [start, end]) => n + end - start, 0);
  const maxCode = ctx.int8?.weightBits === 7 ? INT7_MAX : INT8_MAX;
  const q = sharedQuantization(() => {
    const values = new Int8Array(rows * cols);
    const scales = new Float32Array(rows);
    let row = 0;
    parts.forEach(({ key }, i) => {
      const [start, end] = ranges[i];
      const w = weights.get(`${key}.weight`).subarray(start * cols, end * cols);
      const r = quantizeRowsInt8(w, end - start, cols, maxCode);
      values.set(r.values, row * cols);
      scales.set(r.scales, row);
      row += r.rows;
    });
    return { values: layout({ values, scales, rows, cols }), scales };
  });
  return {
    values: b.initializer({ name: `${name}.weight.int8`, elementType: "int8", dims, data: q.values }),
    scales: b.initializer({
      name: `${name}.weight.scale`,
      elementType: "float32",
      dims: [rows],
      data: q.scales,
    }),
  };
}

/** nn.Linear on the last axis in int8: DynamicQuantizeMatMul(x, W^T as int8 [in, out], per-out scales, bias). */
export function int8Linear(
  ctx: LayerContext,
  key: string,
  x: string,
  options: { bias?: boolean } = {},
): string {
  const { b } = ctx;
  const [out, inp] = ctx.weights.shape(`${key}.weight`);
  const w = quantizedWeight(ctx, key, [inp, out], (q) => transposeInt8(q.values, out, inp));
  const inputs = [x, w.values, w.scales];
  if (options.bias !== false) inputs.push("", b.weight(ctx.weights, `${key}.bias`));
  return b.node("DynamicQuantizeMatMul", inputs, {}, { domain: MS_DOMAIN });
}

/**
 * Several bias-free nn.Linear of the same input in int8 as one DynamicQuantizeMatMul over their
 * stacked weights, split after: the input is quantized once (the same codes each would compute) and
 * one wider GEMM runs instead of several. Returns one output per key, in order.
 */
export function int8StackedLinears(
  ctx: LayerContext,
  keys: readonly string[],
  x: string,
  name: string,
): string[] {
  const { b } = ctx;
  const outs = keys.map((key) => ctx.weights.shape(`${key}.weight`)[0]);
  const [, inp] = ctx.weights.shape(`${keys[0]}.weight`);
  const total = outs.reduce((n, o) => n + o, 0);
  const w = stackedQuantizedWeight(
    ctx,
    keys.map((key) => ({ key })),
    name,
    [inp, total],
    (q) => transposeInt8(q.values, total, inp),
  );
  const y = b.node("DynamicQuantizeMatMul", [x, w.values, w.scales], {}, { domain: MS_DOMAIN });
  return b.nodeOutputs("Split", [y, b.constInt64(outs)], { axis: -1 }, { outputCount: keys.length });
}

/**
 * Output rows [start, end) of an nn.Linear (with its bias) in int8: a product of its own, so a layer
 * whose output would be split (GEGLU's hidden and gate halves) needs no float32 Split. The input is
 * quantized once per product, to the same codes.
 */
export function int8LinearRows(
  ctx: LayerContext,
  key: string,
  x: string,
  start: number,
  end: number,
): string {
  const { b } = ctx;
  const [, inp] = ctx.weights.shape(`${key}.weight`);
  const w = stackedQuantizedWeight(
    ctx,
    [{ key, rows: [start, end] }],
    `${key}.rows${start}-${end}`,
    [inp, end - start],
    (q) => transposeInt8(q.values, end - start, inp),
  );
  // a Slice of an initializer: folded when the session is created
  const bias = b.node("Slice", [
    b.weight(ctx.weights, `${key}.bias`),
    b.constInt64([start]),
    b.constInt64([end]),
  ]);
  return b.node("DynamicQuantizeMatMul", [x, w.values, w.scales, "", bias], {}, { domain: MS_DOMAIN });
}

/** nn.Conv2d (NCHW in and out, symmetric padding) in int8 through an NHWC uint8 im2col. */
export function int8Conv2d(
  ctx: LayerContext,
  key: string,
  x: string,
  options: { stride?: number; padding?: number } = {},
): string {
  return ctx.b.node("Transpose", [int8Conv2dToNhwc(ctx, key, x, options)], { perm: [0, 3, 1, 2] });
}

/**
 * int8Conv2d without the final Transpose: NCHW in, NHWC float32 out ([N, Ho, Wo, M]), for a caller
 * that wants channels last anyway (a transformer's proj_in, whose output becomes tokens).
 */
export function int8Conv2dToNhwc(
  ctx: LayerContext,
  key: string,
  x: string,
  options: { stride?: number; padding?: number } = {},
): string {
  return int8ConvOfCodes(ctx, key, options, () => {
    const [xq, scale, zero] = quantizeActivation(ctx, x);
    return { codes: ctx.b.node("Transpose", [xq], { perm: [0, 2, 3, 1] }), scale, zero };
  });
}

/** An activation quantized per tensor to uint8 when the graph runs: codes, scale and zero point. */
export interface Uint8Activation {
  readonly codes: string;
  readonly scale: string;
  readonly zero: string;
}

/** DynamicQuantizeLinear of `x`: [codes, scale, zero point]. */
export function quantizeActivation(ctx: LayerContext, x: string): [string, string, string] {
  return ctx.b.nodeOutputs("DynamicQuantizeLinear", [x], {}, { outputCount: 3 }) as [string, string, string];
}

/**
 * nn.Conv2d in int8 on a channels-last network: NHWC float32 in (or its uint8 codes, quantized per
 * tensor, when the caller has them: a nearest upsample of the codes is the codes of the upsample),
 * NHWC float32 out. Chained, these convs need no Transpose between them.
 */
export function int8Conv2dNhwc(
  ctx: LayerContext,
  key: string,
  x: string | Uint8Activation,
  options: { stride?: number; padding?: number; windows?: string } = {},
): string {
  return int8ConvOfCodes(ctx, key, options, () => {
    if (typeof x !== "string") return x;
    const [codes, scale, zero] = quantizeActivation(ctx, x);
    return { codes, scale, zero };
  });
}

/**
 * The conv product of NHWC uint8 codes (`activation` adds their nodes, after the weight's): an
 * im2col (Pad with the zero point, shifted Slices, Concat) into MatMulIntegerToFloat.
 */
function int8ConvOfCodes(
  ctx: LayerContext,
  key: string,
  options: { stride?: number; padding?: number; windows?: string },
  activation: () => Uint8Activation,
): string {
  const { b } = ctx;
  const [m, c, kh, kw] = ctx.weights.shape(`${key}.weight`);
  const pad = options.padding ?? Math.floor(kh / 2);
  const stride = options.stride ?? 1;
  const w = quantizedWeight(ctx, key, [kh * kw * c, m], (q) => convWeightToColumns(q.values, m, c, kh, kw));
  const x = activation();
  if (
    kh === 3 &&
    kw === 3 &&
    pad === 1 &&
    stride === 1 &&
    (options.windows || ctx.int8?.fusions?.has("gather-im2col"))
  ) {
    const windows = options.windows ?? levelWindows(ctx, x.codes);
    const columns = gatheredColumns(b, x, windows, c);
    const inputs = [columns, w.values, x.scale, w.scales, x.zero];
    if (ctx.weights.has(`${key}.bias`)) inputs.push("", b.weight(ctx.weights, `${key}.bias`));
    return b.node("MatMulIntegerToFloat", inputs, {}, { domain: MS_DOMAIN });
  }
  let nhwc = x.codes;
  // padding with the zero point is padding the float activation with 0
  if (pad > 0) nhwc = b.node("Pad", [nhwc, b.constInt64([0, pad, pad, 0, 0, pad, pad, 0]), x.zero]);
  let columns = nhwc;
  if (kh * kw > 1 || stride > 1) {
    const windows: string[] = [];
    for (let y = 0; y < kh; y++) {
      for (let z = 0; z < kw; z++) {
        // [y, end − (kh−1−y)) with step s has exactly floor((Hp − kh)/s) + 1 rows, like the conv output
        const ends = [y - (kh - 1) || TO_END, z - (kw - 1) || TO_END];
        windows.push(
          b.node("Slice", [
            nhwc,
            b.constInt64([y, z]),
            b.constInt64(ends),
            b.constInt64([1, 2]),
            b.constInt64([stride, stride]),
          ]),
        );
      }
    }
    columns = windows.length === 1 ? windows[0] : b.node("Concat", windows, { axis: 3 });
  }
  const inputs = [columns, w.values, x.scale, w.scales, x.zero];
  if (ctx.weights.has(`${key}.bias`)) inputs.push("", b.weight(ctx.weights, `${key}.bias`));
  return b.node("MatMulIntegerToFloat", inputs, {}, { domain: MS_DOMAIN });
}

/**
 * Where a stride-1 3x3 conv's im2col reads from, for NHWC activations shaped like `like` ([N, H, W, C],
 * any element type): [H, W, 9] int64 pixel indices into the activation's H·W pixels followed by one
 * pixel of padding (index H·W), taps in (ky, kx) order. Made once per resolution and shared by
 * that resolution's convs (int8Conv2dNhwc's `windows`): one Gather then builds the im2col, where
 * the Pad, nine Slices and a Concat would each copy the activation.
 */
export function conv3x3WindowIndices(b: GraphBuilder, like: string): string {
  const shape = b.node("Shape", [like]);
  const dim = (i: number) => b.node("Slice", [shape, b.constInt64([i]), b.constInt64([i + 1])]);
  const h = dim(1);
  const w = dim(2);
  const range = (n: string) =>
    b.node("Range", [
      b.constInt64([0], []),
      b.node("Squeeze", [n, b.constInt64([0])]),
      b.constInt64([1], []),
    ]);
  const taps = [-1, 0, 1].flatMap((dy) => [-1, 0, 1].map((dx) => [dy, dx]));
  // rows [H, 1, 9] and columns [1, W, 9] of every tap's source pixel
  const rows = b.node("Add", [
    b.node("Reshape", [range(h), b.constInt64([-1, 1, 1])]),
    b.constInt64(
      taps.map(([dy]) => dy),
      [1, 1, 9],
    ),
  ]);
  const cols = b.node("Add", [
    b.node("Reshape", [range(w), b.constInt64([1, -1, 1])]),
    b.constInt64(
      taps.map(([, dx]) => dx),
      [1, 1, 9],
    ),
  ]);
  const zero = b.constInt64([0], []);
  const inside = (v: string, n: string) =>
    b.node("And", [
      b.node("GreaterOrEqual", [v, zero]),
      b.node("Less", [v, b.node("Squeeze", [n, b.constInt64([0])])]),
    ]);
  const valid = b.node("And", [inside(rows, h), inside(cols, w)]);
  const flat = b.node("Add", [b.node("Mul", [rows, b.node("Squeeze", [w, b.constInt64([0])])]), cols]);
  const padding = b.node("Squeeze", [b.node("Mul", [h, w]), b.constInt64([0])]);
  return b.node("Where", [valid, flat, padding]);
}

/**
 * The pixel indices for a conv's NHWC input: made once per resolution level where the builder says
 * the level (every conv there has the same H and W), else for this conv alone.
 */
function levelWindows(ctx: LayerContext, like: string): string {
  const level = ctx.resolutionLevel;
  const memo = ctx.int8?.im2colWindows;
  if (level === undefined || !memo) return conv3x3WindowIndices(ctx.b, like);
  let windows = memo.get(level);
  if (windows === undefined) {
    windows = conv3x3WindowIndices(ctx.b, like);
    memo.set(level, windows);
  }
  return windows;
}

/** The [N, H, W, 9·C] im2col of NHWC codes through `windows` (conv3x3WindowIndices). */
function gatheredColumns(b: GraphBuilder, x: Uint8Activation, windows: string, channels: number): string {
  const pixels = b.node("Reshape", [x.codes, b.constInt64([0, -1, channels])]);
  // one pixel of the zero point after the last: where the windows reach past an edge
  const padded = b.node("Pad", [pixels, b.constInt64([0, 0, 0, 0, 1, 0]), x.zero]);
  const gathered = b.node("Gather", [padded, windows], { axis: 1 }); // [N, H, W, 9, C]
  const batch = b.node("Slice", [b.node("Shape", [x.codes]), b.constInt64([0]), b.constInt64([3])]);
  return b.node("Reshape", [gathered, b.node("Concat", [batch, b.constInt64([9 * channels])], { axis: 0 })]);
}

/**
 * The two activation × activation products of attention in int8: softmax(q·k^T · scale) · v with
 * q, k, the probabilities and v each quantized per tensor to uint8 when the graph runs
 * (DynamicQuantizeLinear) and multiplied by MatMulIntegerToFloat, which scales the int32 sums back
 * to float32. The tensors are quantized before the head split, so the Reshape/Transpose work on
 * bytes. q, k, v are [B, S, C]; returns [B, Sq, C].
 *
 * Per-tensor uint8 is coarse for the probabilities: a row's weights are ~1/Sk each while the largest
 * sets the scale, so many round to 0 (docs/benchmarks.md "int8 attention matmuls" has the error).
 */
export function int8Attention(
  ctx: LayerContext,
  q: string,
  k: string,
  v: string,
  options: { heads: number; channels: number; scale: number },
): string {
  const { b } = ctx;
  const headDim = options.channels / options.heads;
  const splitHeads = b.constInt64([0, -1, options.heads, headDim]);
  const quantize = (x: string) =>
    b.nodeOutputs("DynamicQuantizeLinear", [x], {}, { outputCount: 3 }) as [string, string, string];
  const heads = (x: string, perm: number[]) =>
    b.node("Transpose", [b.node("Reshape", [x, splitHeads])], { perm });
  const [qq, qScale, qZero] = quantize(q);
  const [kq, kScale, kZero] = quantize(k);
  // the score scale folds into q's quantization scale: one scalar Mul instead of a pass over the scores
  const qkScale = b.node("Mul", [qScale, b.constScalar(options.scale)]);
  const scores = b.node(
    "MatMulIntegerToFloat",
    [heads(qq, [0, 2, 1, 3]), heads(kq, [0, 2, 3, 1]), qkScale, kScale, qZero, kZero],
    {},
    { domain: MS_DOMAIN },
  );
  const probs = b.node("Softmax", [scores], { axis: -1 });
  const [pq, pScale, pZero] = quantize(probs);
  const [vq, vScale, vZero] = quantize(v);
  const out = b.node(
    "MatMulIntegerToFloat",
    [pq, heads(vq, [0, 2, 1, 3]), pScale, vScale, pZero, vZero],
    {},
    { domain: MS_DOMAIN },
  );
  return b.node("Reshape", [
    b.node("Transpose", [out], { perm: [0, 2, 1, 3] }),
    b.constInt64([0, -1, options.channels]),
  ]);
}
