/**
 * The float weights int8 codes stand for, as the graphs' DequantizeLinear / MatMulNBits compute
 * them: the reference the quantizer's tests compare against (src/graph/quantize.ts writes the codes).
 */
import { BLOCKWISE_ZERO_POINT, type BlockwiseUint8, type Int8Rows } from "../../src/graph/quantize.js";

export function dequantizeRowsInt8(q: Int8Rows): Float32Array {
  const out = new Float32Array(q.values.length);
  for (let r = 0; r < q.rows; r++) {
    const s = q.scales[r];
    for (let i = r * q.cols; i < (r + 1) * q.cols; i++) out[i] = q.values[i] * s;
  }
  return out;
}

export function dequantizeBlockwiseUint8(q: BlockwiseUint8): Float32Array {
  const out = new Float32Array(q.rows * q.cols);
  for (let r = 0; r < q.rows; r++) {
    for (let c = 0; c < q.cols; c++) {
      const j = Math.floor(c / q.blockSize);
      const v = q.values[(r * q.blocks + j) * q.blockSize + (c % q.blockSize)];
      out[r * q.cols + c] = (v - BLOCKWISE_ZERO_POINT) * q.scales[r * q.blocks + j];
    }
  }
  return out;
}
