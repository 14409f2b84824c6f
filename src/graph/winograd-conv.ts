/**
 * Stride-1 3x3 convolutions as Winograd F(m×m, 3×3) (Lavin & Gray 2016), built from standard ONNX
 * ops so every execution provider runs it: the output is cut into m×m tiles, each read as an
 * (m+2)×(m+2) input patch d; per tile and channel the conv is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, and the
 * sum over input channels becomes one batched MatMul over the (m+2)² tile positions. The MatMul does
 * (m+2)²/(9m²) of the direct conv's multiply-adds (F(2,3): 1/2.25, F(4,3): 1/4).
 *
 * The graph: Pad → (m+2)² strided Slices (the patch taps) → Concat → MatMul with Bᵀ⊗Bᵀ (input
 * transform) → MatMul with the pre-transformed weights U = (G⊗G)·g, [(m+2)², 1, K, C] (computed when
 * the model is written) → MatMul with Aᵀ⊗Aᵀ (output transform) → Transpose/Reshape back to NCHW →
 * Slice to the input's size → bias. The weights stay float32 whatever the graph's weight storage
 * (U is not a checkpoint value), and take (m+2)²/9 times the direct kernel's bytes.
 */
import type { GraphBuilder } from "./graph-builder.js";

/** Output tile side m: F(2×2, 3×3) or F(4×4, 3×3). */
export type WinogradTile = 2 | 4;

interface WinogradMatrices {
  /** Bᵀ, (m+2)×(m+2): input patch → transform domain. */
  readonly bt: readonly (readonly number[])[];
  /** G, (m+2)×3: kernel → transform domain. */
  readonly g: readonly (readonly number[])[];
  /** Aᵀ, m×(m+2): transform domain → output tile. */
  readonly at: readonly (readonly number[])[];
}

/** Lavin & Gray's matrices (interpolation points 0, ±1 for F(2,3); 0, ±1, ±2 for F(4,3); and ∞). */
export const WINOGRAD_MATRICES: Readonly<Record<WinogradTile, WinogradMatrices>> = {
  2: {
    bt: [
      [1, 0, -1, 0],
      [0, 1, 1, 0],
      [0, -1, 1, 0],
      [0, 1, 0, -1],
    ],
    g: [
      [1, 0, 0],
      [0.5, 0.5, 0.5],
      [0.5, -0.5, 0.5],
      [0, 0, 1],
    ],
    at: [
      [1, 1, 1, 0],
      [0, 1, -1, -1],
    ],
  },
  4: {
    bt: [
      [4, 0, -5, 0, 1, 0],
      [0, -4, -4, 1, 1, 0],
      [0, 4, -4, -1, 1, 0],
      [0, -2, -1, 2, 1, 0],
      [0, 2, -1, -2, 1, 0],
      [0, 4, 0, -5, 0, 1],
    ],
    g: [
      [1 / 4, 0, 0],
      [-1 / 6, -1 / 6, -1 / 6],
      [-1 / 6, 1 / 6, -1 / 6],
      [1 / 24, 1 / 12, 1 / 6],
      [1 / 24, -1 / 12, 1 / 6],
      [0, 0, 1],
    ],
    at: [
      [1, 1, 1, 1, 1, 0],
      [0, 1, -1, 2, -2, 0],
      [0, 1, 1, 4, 4, 0],
      [0, 1, -1, 8, -8, 1],
    ],
  },
};

/** (M ⊗ M) as a row-major [rows², cols²] matrix: entry [(i·r + j), (u·c + v)] = M[i][u]·M[j][v]. */
export function kronSelf(m: readonly (readonly number[])[]): { data: Float64Array; rows: number; cols: number } {
  const r = m.length;
  const c = m[0].length;
  const data = new Float64Array(r * r * c * c);
  for (let i = 0; i < r; i++)
    for (let j = 0; j < r; j++)
      for (let u = 0; u < c; u++)
        for (let v = 0; v < c; v++) data[(i * r + j) * c * c + u * c + v] = m[i][u] * m[j][v];
  return { data, rows: r * r, cols: c * c };
}

/**
 * The conv weight [K, C, 3, 3] in the transform domain as [(m+2)², 1, K, C] (the 1 broadcasts over
 * the batch): U[p, k, c] = Σ_uv (G⊗G)[p, uv] · w[k, c, u, v], in float64, rounded once.
 */
export function winogradWeights(weight: Float32Array, dims: readonly number[], tile: WinogradTile): Float32Array {
  const [k, c, kh, kw] = dims;
  if (kh !== 3 || kw !== 3) throw new Error(`Winograd weights need a 3x3 kernel, got ${kh}x${kw}`);
  const gg = kronSelf(WINOGRAD_MATRICES[tile].g);
  const positions = gg.rows;
  const out = new Float32Array(positions * k * c);
  const kc = k * c;
  for (let o = 0; o < kc; o++) {
    const w = weight.subarray(o * 9, o * 9 + 9);
    for (let p = 0; p < positions; p++) {
      let s = 0;
      for (let t = 0; t < 9; t++) s += gg.data[p * 9 + t] * w[t];
      out[p * kc + o] = s;
    }
  }
  return out;
}

export interface WinogradConvArgs {
  /** NCHW input [N, C, H, W] (dynamic N, H, W). */
  readonly x: string;
  /** The checkpoint key's weight initializer name, for naming the transformed one. */
  readonly weightName: string;
  /** [K, C, 3, 3]. */
  readonly weightDims: readonly number[];
  /** Reads the float32 weight when the model is written. */
  readonly readWeight: () => Float32Array;
  /** The bias value ([K]) or undefined. */
  readonly bias?: string;
  readonly tile: WinogradTile;
}

/** Conv(x, w, b) with kernel 3, stride 1, padding 1 as Winograd F(m×m, 3×3); returns [N, K, H, W]. */
export function winogradConv3x3(b: GraphBuilder, args: WinogradConvArgs): string {
  const m = args.tile;
  const a = m + 2;
  const positions = a * a;
  const [k, c] = args.weightDims;
  const { bt, at } = WINOGRAD_MATRICES[m];

  // Tiles: Th = ceil(H / m). Padding: 1 on the top/left (the conv's own), and on the bottom/right up
  // to m·(Th + 2) in all, so that every tap's strided Slice below can end at a fixed negative index.
  const shape = b.node("Shape", [args.x]);
  const hw = b.node("Slice", [shape, b.constInt64([2]), b.constInt64([4])]);
  const tiles = b.node("Div", [b.node("Add", [hw, b.constInt64([m - 1, m - 1])]), b.constInt64([m, m])]);
  const padEnd = b.node("Sub", [b.node("Mul", [tiles, b.constInt64([m, m])]), hw]);
  const padEndTotal = b.node("Add", [padEnd, b.constInt64([2 * m - 1, 2 * m - 1])]);
  const pads = b.node("Concat", [b.constInt64([0, 0, 1, 1, 0, 0]), padEndTotal], { axis: 0 });
  const padded = b.node("Pad", [args.x, pads]);

  // The patch tap (u, v) of every tile: rows u, u+m, …, u+m(Th−1) — ending m·Th + u = Hp − 2m + u.
  const taps: string[] = [];
  for (let u = 0; u < a; u++) {
    for (let v = 0; v < a; v++) {
      const tap = b.node("Slice", [
        padded,
        b.constInt64([u, v]),
        b.constInt64([u - 2 * m, v - 2 * m]),
        b.constInt64([2, 3]),
        b.constInt64([m, m]),
      ]);
      taps.push(b.node("Reshape", [tap, b.constInt64([0, 0, -1])])); // [N, C, T]
    }
  }
  // [a², N·C·T] → input transform V = (Bᵀ⊗Bᵀ)·d → [a², N, C, T]
  const tapShape = b.node("Shape", [taps[0]]); // [N, C, T]
  const stacked = b.node("Reshape", [b.node("Concat", taps, { axis: 0 }), b.constInt64([positions, -1])]);
  const btKron = kronSelf(bt);
  const v = b.node("MatMul", [b.constFloat(Float32Array.from(btKron.data), [positions, positions]), stacked]);
  const vShape = b.node("Concat", [b.constInt64([positions]), tapShape], { axis: 0 });
  const vGrid = b.node("Reshape", [v, vShape]);

  // The channel sum, one [K, C]·[C, T] product per position and image.
  const uName = `${args.weightName}:winograd${m}`;
  const weightDims = args.weightDims;
  const u = b.initializer({
    name: uName,
    elementType: "float32",
    dims: [positions, 1, k, c],
    data: () => winogradWeights(args.readWeight(), weightDims, m),
  });
  const product = b.node("MatMul", [u, vGrid]); // [a², N, K, T]

  // Output transform Y = (Aᵀ⊗Aᵀ)·M → [m, m, N, K, Th, Tw] → [N, K, Th, m, Tw, m] → [N, K, m·Th, m·Tw]
  const atKron = kronSelf(at);
  const y = b.node("MatMul", [
    b.constFloat(Float32Array.from(atKron.data), [m * m, positions]),
    b.node("Reshape", [product, b.constInt64([positions, -1])]),
  ]);
  const batch = b.node("Slice", [shape, b.constInt64([0]), b.constInt64([1])]);
  const yShape = b.node("Concat", [b.constInt64([m, m]), batch, b.constInt64([k]), tiles], { axis: 0 });
  const yTiles = b.node("Transpose", [b.node("Reshape", [y, yShape])], { perm: [2, 3, 4, 0, 5, 1] });
  const outShape = b.node(
    "Concat",
    [batch, b.constInt64([k]), b.node("Mul", [tiles, b.constInt64([m, m])])],
    { axis: 0 },
  );
  const image = b.node("Reshape", [yTiles, outShape]);
  // drop the rows and columns past H, W (none when m divides them; ORT then still copies once)
  const cropped = b.node("Slice", [image, b.constInt64([0, 0]), hw, b.constInt64([2, 3])]);
  if (!args.bias) return cropped;
  return b.node("Add", [cropped, b.node("Unsqueeze", [args.bias, b.constInt64([1, 2])])]);
}
