/**
 * Weight quantization for the int8 UNet: pure functions over Float32Arrays, no I/O.
 *
 * - Per-row symmetric int8 (one scale per output channel, zero point 0): w ≈ q · scale, q ∈ [-127, 127].
 *   What onnxruntime's DynamicQuantizeMatMul / MatMulIntegerToFloat take as their constant B.
 * - Blockwise uint8 in MatMulNBits' layout (bits = 8): each row cut into blocks of `blockSize` along
 *   K, one scale per block, the implicit zero point 128. Kept for the op benchmarks: weight-only
 *   MatMulNBits measured slower than fp32 MatMul on CPU, so the UNet does not use it.
 *
 * -127 rather than -128 keeps the grid symmetric, so negating a weight negates its code.
 * `maxCode` 63 ("reduce range", 7-bit weights) is for x86 CPUs without VNNI: their u8s8 kernels
 * (vpmaddubsw) add two uint8·int8 products in a saturating int16, which 255·63·2 cannot overflow.
 */

export const INT8_MAX = 127;
/** The largest code of 7-bit ("reduced range") weights. */
export const INT7_MAX = 63;

/** Per-row (per output channel) symmetric int8 of a row-major [rows, cols] matrix. */
export interface Int8Rows {
  readonly values: Int8Array;
  /** [rows]; w[r, c] ≈ values[r, c] · scales[r]. */
  readonly scales: Float32Array;
  readonly rows: number;
  readonly cols: number;
}

/** The float32 scale that maps a row's largest magnitude to maxCode (1 for an all-zero row). */
export function symmetricScale(maxAbs: number, maxCode = INT8_MAX): number {
  return maxAbs > 0 ? Math.fround(maxAbs / maxCode) : 1;
}

/** Rounds half away from zero (Math.round alone rounds −63.5 up), so the grid stays symmetric. */
function code(value: number, scale: number, maxCode = INT8_MAX): number {
  const r = value / scale;
  const q = r < 0 ? -Math.round(-r) : Math.round(r);
  return Math.min(maxCode, Math.max(-maxCode, q));
}

function rowMaxAbs(w: Float32Array, start: number, end: number): number {
  let max = 0;
  for (let i = start; i < end; i++) {
    const a = Math.abs(w[i]);
    if (a > max) max = a;
  }
  return max;
}

export function quantizeRowsInt8(w: Float32Array, rows: number, cols: number, maxCode = INT8_MAX): Int8Rows {
  if (w.length !== rows * cols)
    throw new Error(`quantizeRowsInt8: ${w.length} values for [${rows}, ${cols}]`);
  const values = new Int8Array(w.length);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const start = r * cols;
    const scale = symmetricScale(rowMaxAbs(w, start, start + cols), maxCode);
    scales[r] = scale;
    for (let i = start; i < start + cols; i++) values[i] = code(w[i], scale, maxCode);
  }
  return { values, scales, rows, cols };
}

/** [rows, cols] → [cols, rows]: nn.Linear stores [out, in], a MatMul's B is [in, out]. */
export function transposeInt8(values: Int8Array, rows: number, cols: number): Int8Array {
  const out = new Int8Array(values.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  }
  return out;
}

/**
 * A quantized conv weight [M, C, kh, kw] (rows = M) as the B matrix of an NHWC im2col product:
 * [(ky, kx, c), M], the order in which the shifted kh·kw windows are concatenated on the channel axis.
 */
export function convWeightToColumns(
  values: Int8Array,
  outChannels: number,
  inChannels: number,
  kh: number,
  kw: number,
): Int8Array {
  if (values.length !== outChannels * inChannels * kh * kw) {
    throw new Error(
      `convWeightToColumns: ${values.length} values for [${outChannels}, ${inChannels}, ${kh}, ${kw}]`,
    );
  }
  const out = new Int8Array(values.length);
  for (let m = 0; m < outChannels; m++) {
    for (let c = 0; c < inChannels; c++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          const row = (y * kw + x) * inChannels + c;
          out[row * outChannels + m] = values[((m * inChannels + c) * kh + y) * kw + x];
        }
      }
    }
  }
  return out;
}

/** MatMulNBits (bits = 8) weight: [rows, blocks, blockSize] uint8, scales [rows · blocks], zero point 128. */
export interface BlockwiseUint8 {
  readonly values: Uint8Array;
  readonly scales: Float32Array;
  readonly rows: number;
  readonly cols: number;
  readonly blockSize: number;
  readonly blocks: number;
}

/** The implicit zero point of 8-bit MatMulNBits when none is given: 2^(bits − 1). */
export const BLOCKWISE_ZERO_POINT = 128;

/** Rows of a row-major [rows, cols] matrix ([N, K] = nn.Linear's [out, in]); the last block is zero-padded. */
export function quantizeBlockwiseUint8(
  w: Float32Array,
  rows: number,
  cols: number,
  blockSize: number,
): BlockwiseUint8 {
  if (w.length !== rows * cols)
    throw new Error(`quantizeBlockwiseUint8: ${w.length} values for [${rows}, ${cols}]`);
  if (!Number.isInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw new Error(`quantizeBlockwiseUint8: block size ${blockSize} is not a power of two ≥ 16`);
  }
  const blocks = Math.ceil(cols / blockSize);
  const values = new Uint8Array(rows * blocks * blockSize).fill(BLOCKWISE_ZERO_POINT);
  const scales = new Float32Array(rows * blocks);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < blocks; j++) {
      const start = r * cols + j * blockSize;
      const end = r * cols + Math.min(cols, (j + 1) * blockSize);
      const scale = symmetricScale(rowMaxAbs(w, start, end));
      scales[r * blocks + j] = scale;
      const base = (r * blocks + j) * blockSize;
      for (let i = start; i < end; i++) values[base + i - start] = code(w[i], scale) + BLOCKWISE_ZERO_POINT;
    }
  }
  return { values, scales, rows, cols, blockSize, blocks };
}
