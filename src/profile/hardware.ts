/**
 * A machine as the cost model sees it: peak MAC rate, on-chip memory, DRAM bandwidth and the
 * precision it stores weights and activations in. Read from a `--hardware FILE.json` (units people
 * quote: MACs per cycle, GHz, MB of SRAM, GB/s of DRAM) or made from this machine's measurements.
 */

export interface HardwareSpec {
  readonly name: string;
  readonly description?: string;
  /** MAC-array rate in FLOP/s (2 per MAC). */
  readonly peakFlopsPerSecond: number;
  /** Rate of the other FLOPs (elementwise, norms, softmax). */
  readonly vectorFlopsPerSecond: number;
  readonly onChipBytes: number;
  readonly dramBytesPerSecond: number;
  /** Bytes per weight and per activation element on this machine (1 int8, 2 fp16, 4 fp32). */
  readonly weightBytes: number;
  readonly activationBytes: number;
}

/** The JSON file's fields. */
export interface HardwareFile {
  name: string;
  description?: string;
  macsPerCycle: number;
  clockGHz: number;
  /** On-chip memory (SRAM, or the last-level cache) in MiB. */
  onChipMB: number;
  /** DRAM bandwidth in GB/s (10^9 bytes). */
  dramGBps: number;
  weightBytes: number;
  activationBytes: number;
  /** FLOPs per cycle for non-MAC work; default: the MAC array's rate (2 per MAC). */
  vectorFlopsPerCycle?: number;
}

const NUMBER_FIELDS = [
  "macsPerCycle",
  "clockGHz",
  "onChipMB",
  "dramGBps",
  "weightBytes",
  "activationBytes",
  "vectorFlopsPerCycle",
] as const;
const OPTIONAL = new Set(["description", "vectorFlopsPerCycle"]);
const MIB = 1024 * 1024;

/** A parsed hardware file, checked field by field; `source` names it in errors. */
export function parseHardwareFile(json: unknown, source: string): HardwareSpec {
  const fail = (why: string): never => {
    throw new Error(`${source}: ${why}`);
  };
  if (typeof json !== "object" || json === null || Array.isArray(json)) fail("expected a JSON object");
  const record = json as Record<string, unknown>;
  const known = new Set<string>(["name", "description", ...NUMBER_FIELDS]);
  for (const key of Object.keys(record)) {
    if (!known.has(key)) fail(`unknown field "${key}" (fields: ${[...known].join(", ")})`);
  }
  if (typeof record.name !== "string" || record.name.trim() === "") fail('"name" must be a non-empty string');
  if (record.description !== undefined && typeof record.description !== "string") {
    fail('"description" must be a string');
  }
  for (const field of NUMBER_FIELDS) {
    const v = record[field];
    if (v === undefined && OPTIONAL.has(field)) continue;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) fail(`"${field}" must be a number > 0`);
  }
  const file = record as unknown as HardwareFile;
  const hz = file.clockGHz * 1e9;
  return {
    name: file.name,
    description: file.description,
    peakFlopsPerSecond: 2 * file.macsPerCycle * hz,
    vectorFlopsPerSecond: (file.vectorFlopsPerCycle ?? 2 * file.macsPerCycle) * hz,
    onChipBytes: file.onChipMB * MIB,
    dramBytesPerSecond: file.dramGBps * 1e9,
    weightBytes: file.weightBytes,
    activationBytes: file.activationBytes,
  };
}

/** This machine from its measured matmul rate and memory bandwidth, in float32. */
export function measuredMachineSpec(m: {
  matmulFlopsPerSecond: number;
  memoryBytesPerSecond: number;
  lastLevelCacheBytes: number;
}): HardwareSpec {
  return {
    name: "this machine (measured)",
    peakFlopsPerSecond: m.matmulFlopsPerSecond,
    vectorFlopsPerSecond: m.matmulFlopsPerSecond,
    onChipBytes: m.lastLevelCacheBytes,
    dramBytesPerSecond: m.memoryBytesPerSecond,
    weightBytes: 4,
    activationBytes: 4,
  };
}

/** FLOPs per byte above which a kernel at this machine's peak is compute-bound. */
export function ridgePoint(hw: HardwareSpec): number {
  return hw.peakFlopsPerSecond / hw.dramBytesPerSecond;
}
