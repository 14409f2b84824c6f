/**
 * How wide the int8 UNet's weight codes may be on this CPU. onnxruntime's x86 u8s8 GEMM without
 * VNNI (AVX2, AVX-512F/BW) multiplies with vpmaddubsw, which adds pairs of uint8·int8 products in
 * a saturating int16: 255·127·2 overflows it, 255·63·2 does not. So such CPUs get 7-bit weights
 * (onnxruntime's "reduce range" advice); VNNI (vpdpbusd) and AMX accumulate in int32, and ARM's
 * kernels widen first, so they keep all 8 bits.
 */
import { readFileSync } from "node:fs";
import { arch } from "node:os";

/** Instruction sets whose u8·s8 dot products accumulate in 32 bits. */
const INT32_DOT_PRODUCT_FLAGS = ["avx512_vnni", "avx_vnni", "amx_int8"];

export function int8WeightBitsFor(cpuArch: string, cpuFlags: readonly string[]): 7 | 8 {
  if (cpuArch !== "x64" && cpuArch !== "ia32") return 8;
  return INT32_DOT_PRODUCT_FLAGS.some((f) => cpuFlags.includes(f)) ? 8 : 7;
}

/** The CPU's feature flags from /proc/cpuinfo; empty where that is unreadable (not Linux). */
export function cpuFlags(cpuinfo?: string): string[] {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/cpuinfo", "utf-8");
    } catch {
      return [];
    }
  }
  const line = text.split("\n").find((l) => /^flags\s*:/.test(l));
  return line
    ? line
        .slice(line.indexOf(":") + 1)
        .trim()
        .split(/\s+/)
    : [];
}

let detected: 7 | 8 | undefined;

/** For this machine; an x86 CPU whose flags cannot be read gets the safe 7 bits. */
export function int8WeightBitsForThisCpu(): 7 | 8 {
  detected ??= int8WeightBitsFor(arch(), cpuFlags());
  return detected;
}
