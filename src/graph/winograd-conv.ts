/**
 * Stride-1 3x3 convolutions as Winograd F(m×m, 3×3) (Lavin & Gray 2016), built from standard ONNX
 * ops so every execution provider runs it: the output is cut into m×m tiles, each read as an
 * (m+2)×(m+2) input patch d; per tile and channel the conv is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, and the
 * sum over input channels becomes one batched MatMul over the (m+2)² tile positions. The MatMul does
 * (m+2)²/(9m²) of the direct conv's multiply-adds (F(2,3): 1/2.25, F(4,3): 1/4).
 *
 * The graph: Pad → a stride-m Conv of every channel plane with the (m+2)² rows of Bᵀ⊗Bᵀ as kernels
 * (input transform) → Transpose to [N, (m+2)², C, T] → MatMul with the pre-transformed weights
 * U = (G⊗G)·g, [(m+2)², K, C] (computed when the model is written) → MatMul with Aᵀ⊗Aᵀ (output
 * transform) → DepthToSpace back to NCHW → Slice to the input's size → bias. The weights stay float32 whatever the graph's weight storage
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
export function kronSelf(m: readonly (readonly number[])[]): {
  data: Float64Array;
  rows: number;
  cols: number;
} {
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
 * The conv weight [K, C, 3, 3] in the transform domain as [(m+2)², K, C]: U[p, k, c] = Σ_uv (G⊗G)[p, uv] · w[k, c, u, v], in float64, rounded once.
 */
export function winogradWeights(
  weight: Float32Array,
  dims: readonly number[],
  tile: WinogradTile,
): Float32Array {
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

/** The input transform as conv weights [(m+2)², 1, m+2, m+2]: output channel (i, j) is row i of Bᵀ⊗Bᵀ. */
function inputTransformKernel(tile: WinogradTile): Float32Array {
  return Float32Array.from(kronSelf(WINOGRAD_MATRICES[tile].bt).data);
}

/** Conv(x, w, b) with kernel 3, stride 1, padding 1 as Winograd F(m×m, 3×3); returns [N, K, H, W]. */
export function winogradConv3x3(b: GraphBuilder, args: WinogradConvArgs): string {
  const m = args.tile;
  const a = m + 2;
  const positions = a * a;
  const [k, c] = args.weightDims;

  const shape = b.node("Shape", [args.x]);
  const batch = b.node("Slice", [shape, b.constInt64([0]), b.constInt64([1])]);
  const hw = b.node("Slice", [shape, b.constInt64([2]), b.constInt64([4])]);
  const tiles = b.node("Div", [b.node("Add", [hw, b.constInt64([m - 1, m - 1])]), b.constInt64([m, m])]);

  // Input transform: every channel as its own 1-channel image, one stride-m conv whose (m+2)² output
  // channels are Bᵀ d B of each patch → [N·C, a², Th, Tw] → [N, a², C, T]. Padding 1 (the conv's
  // own) before and m after gives exactly Th = ceil(H / m) tiles per side (the conv floors).
  const planes = b.node("Reshape", [args.x, b.constInt64([-1, 1, 0, 0])]);
  const v = b.node("Conv", [planes, b.constFloat(inputTransformKernel(m), [positions, 1, a, a])], {
    kernel_shape: [a, a],
    strides: [m, m],
    pads: [1, 1, m, m],
  });
  const vShape = b.node("Concat", [batch, b.constInt64([c, positions, -1])], { axis: 0 });
  const vGrid = b.node("Transpose", [b.node("Reshape", [v, vShape])], { perm: [0, 2, 1, 3] });

  // The channel sum: per image and position one [K, C]·[C, T] product with U = (G⊗G)·g
  const u = b.initializer({
    name: `${args.weightName}:winograd${m}`,
    elementType: "float32",
    dims: [positions, k, c],
    data: () => winogradWeights(args.readWeight(), args.weightDims, m),
  });
  const product = b.node("MatMul", [u, vGrid]); // [N, a², K, T]

  // Output transform (Aᵀ⊗Aᵀ)·M per image → [N, m², K·T] = [N, m²·K, Th, Tw] (channel (r·m+s)·K + k)
  // → DepthToSpace (DCR) → [N, K, m·Th, m·Tw]
  const atKron = kronSelf(WINOGRAD_MATRICES[m].at);
  const y = b.node("MatMul", [
    b.constFloat(Float32Array.from(atKron.data), [m * m, positions]),
    b.node("Reshape", [product, b.constInt64([0, positions, -1])]),
  ]);
  const yShape = b.node("Concat", [batch, b.constInt64([m * m * k]), tiles], { axis: 0 });
  const image = b.node("DepthToSpace", [b.node("Reshape", [y, yShape])], { blocksize: m, mode: "DCR" });
  // drop the rows and columns past H, W (none when m divides them)
  const cropped = b.node("Slice", [image, b.constInt64([0, 0]), hw, b.constInt64([2, 3])]);
  if (!args.bias) return cropped;
  return b.node("Add", [cropped, b.node("Unsqueeze", [args.bias, b.constInt64([1, 2])])]);
}
