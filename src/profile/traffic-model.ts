/**
 * What one network call costs on a given machine under a simple tiling model (docs/profile.md):
 * - weights: when all of them fit in on-chip memory they stay there, loaded once per image
 *   (residentWeightBytes); otherwise every call streams each weight from DRAM once;
 * - activations: a buffer larger than the on-chip memory left beside resident weights is spilled,
 *   i.e. written to DRAM once and read back by each reader; smaller ones never leave the chip.
 *   The network's inputs come from DRAM and its outputs go there;
 * - sizes are element counts at the machine's precision (never wider than the graph's own);
 * - each op takes max(compute time, DRAM time): compute and transfers overlap, ops do not.
 */
import type { NetworkCount } from "./count-graph.js";
import type { HardwareSpec } from "./hardware.js";
import { OP_KINDS, type OpKind } from "./op-kinds.js";

export type Bound = "compute" | "bandwidth";

export interface KindEstimate {
  seconds: number;
  dramBytes: number;
}

export interface NetworkEstimate {
  /** Per call. */
  readonly seconds: number;
  readonly computeSeconds: number;
  readonly memorySeconds: number;
  readonly dramBytes: number;
  readonly weightDramBytes: number;
  readonly activationDramBytes: number;
  readonly weightsResident: boolean;
  /** Loaded once per image when resident, else 0. */
  readonly residentWeightBytes: number;
  readonly spilledBuffers: number;
  readonly bound: Bound;
  readonly byKind: Readonly<Record<OpKind, KindEstimate>>;
}

export function estimateNetwork(count: NetworkCount, hw: HardwareSpec): NetworkEstimate {
  const weightBytes = (n: { weightBytes: number; weightElements: number }) =>
    Math.min(n.weightBytes, n.weightElements * hw.weightBytes);
  const allWeights = count.nodes.reduce((s, n) => s + weightBytes(n), 0);
  const resident = allWeights <= hw.onChipBytes;
  const budget = hw.onChipBytes - (resident ? allWeights : 0);
  const buffers = new Map<string, { bytes: number; spilled: boolean; input: boolean; output: boolean }>();
  let spilledBuffers = 0;
  for (const b of count.buffers) {
    const bytes = Math.min(b.bytes, b.elements * hw.activationBytes);
    const spilled = bytes > budget;
    if (spilled) spilledBuffers++;
    buffers.set(b.name, { bytes, spilled, input: b.graphInput, output: b.graphOutput });
  }
  // a buffer crosses DRAM when spilled, or on its way in (network input) or out (network output)
  const traffic = (name: string, direction: "read" | "write"): number => {
    const b = buffers.get(name);
    if (!b) return 0;
    return b.spilled || (direction === "read" ? b.input : b.output) ? b.bytes : 0;
  };

  const byKind = Object.fromEntries(OP_KINDS.map((k) => [k, { seconds: 0, dramBytes: 0 }])) as Record<
    OpKind,
    KindEstimate
  >;
  let seconds = 0;
  let computeSeconds = 0;
  let memorySeconds = 0;
  let weightDram = 0;
  let activationDram = 0;
  for (const n of count.nodes) {
    const w = resident ? 0 : weightBytes(n);
    const a =
      n.reads.reduce((s, r) => s + traffic(r, "read"), 0) +
      n.writes.reduce((s, o) => s + traffic(o, "write"), 0);
    const compute = (2 * n.macs) / hw.peakFlopsPerSecond + (n.flops - 2 * n.macs) / hw.vectorFlopsPerSecond;
    const memory = (w + a) / hw.dramBytesPerSecond;
    const t = Math.max(compute, memory);
    seconds += t;
    computeSeconds += compute;
    memorySeconds += memory;
    weightDram += w;
    activationDram += a;
    byKind[n.kind].seconds += t;
    byKind[n.kind].dramBytes += w + a;
  }
  return {
    seconds,
    computeSeconds,
    memorySeconds,
    dramBytes: weightDram + activationDram,
    weightDramBytes: weightDram,
    activationDramBytes: activationDram,
    weightsResident: resident,
    residentWeightBytes: resident ? allWeights : 0,
    spilledBuffers,
    bound: computeSeconds >= memorySeconds ? "compute" : "bandwidth",
    byKind,
  };
}
