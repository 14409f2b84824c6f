/**
 * This machine's practical peaks, measured in a few seconds with the same runtime and threads the
 * networks run with: float32 matmul FLOP/s (a chain of 1024² MatMuls, the kernel the linears use)
 * and memory bandwidth (a chain of Adds over a 64 MB tensor, read once and written once each).
 * Each kernel is timed by the runtime's profiler; the best kernel counts, since on a shared
 * machine the slower ones measure the neighbours. Also the last-level cache size and CPU flags.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MachineInfo, machineInfo } from "../../bench/machine-info.js";
import { cpuFlags } from "../../engine/int8-weight-bits.js";
import { GraphBuilder } from "../../graph/graph-builder.js";
import { serializeModel } from "../../graph/onnx-model.js";
import type { Runtime, SessionOptions } from "../../runtime/runtime.js";
import { parseOrtTrace } from "../ort-trace.js";
import { sampleFeeds } from "./time-networks.js";

export interface MachinePeak {
  readonly matmulFlopsPerSecond: number;
  readonly memoryBytesPerSecond: number;
  readonly lastLevelCacheBytes: number;
  /** Where the cache size came from. */
  readonly cacheSource: string;
  /** Every flag /proc/cpuinfo lists (empty where there is none). */
  readonly cpuFlags: readonly string[];
  readonly machine: MachineInfo;
  readonly measuredSeconds: number;
}

const MATMUL_SIZE = 1024;
const MATMUL_CHAIN = 3;
const COPY_ELEMENTS = 16 * 1024 * 1024;
const COPY_CHAIN = 3;
const TIMED_RUNS = 4;
const FALLBACK_CACHE_BYTES = 8 * 1024 * 1024;

function matmulGraph(): GraphBuilder {
  const b = new GraphBuilder("peak_matmul");
  let h = b.input("x", "float32", [MATMUL_SIZE, MATMUL_SIZE]);
  const scale = 1 / Math.sqrt(MATMUL_SIZE);
  for (let i = 0; i < MATMUL_CHAIN; i++) {
    const w = Float32Array.from(
      { length: MATMUL_SIZE * MATMUL_SIZE },
      (_, k) => ((k % 17) - 8) * scale * 0.1,
    );
    const name = b.initializer({
      name: `w${i}`,
      elementType: "float32",
      dims: [MATMUL_SIZE, MATMUL_SIZE],
      data: w,
    });
    h = b.node("MatMul", [h, name]);
  }
  b.output(h, "y", "float32");
  return b;
}

function copyGraph(): GraphBuilder {
  const b = new GraphBuilder("peak_bandwidth");
  let h = b.input("x", "float32", [COPY_ELEMENTS]);
  for (let i = 0; i < COPY_CHAIN; i++) h = b.node("Add", [h, b.constScalar(i + 1)]);
  b.output(h, "y", "float32");
  return b;
}

/** The fastest kernel of type `opType` over the timed runs, in seconds. */
async function fastestKernel(
  runtime: Runtime,
  session: SessionOptions,
  graph: GraphBuilder,
  opType: string,
  inputDims: readonly number[],
): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "sdlite-peak-"));
  try {
    const model = serializeModel(graph);
    const s = await runtime.createSession(
      { bytes: model.bytes, externalData: model.externalData },
      { ...session, enableProfiling: true, profileFilePrefix: join(dir, "trace") },
    );
    try {
      const feeds = sampleFeeds(graph, { x: inputDims });
      for (let i = 0; i <= TIMED_RUNS; i++) await s.run(feeds);
      const trace = await s.endProfiling?.();
      if (!trace) throw new Error(`the ${runtime.name} runtime wrote no profile`);
      const kernels = parseOrtTrace(JSON.parse(readFileSync(trace, "utf-8")))
        .slice(1)
        .flatMap((r) => r.kernels.filter((k) => k.opType === opType));
      if (kernels.length === 0) throw new Error(`the profile has no ${opType} kernel`);
      return Math.min(...kernels.map((k) => Math.max(k.duration, 1))) / 1e6;
    } finally {
      await s.release();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf-8");
  } catch {
    return undefined;
  }
}

function parseCacheSize(text: string): number | undefined {
  const m = /^(\d+)\s*([KMG]?)/i.exec(text.trim());
  if (!m) return undefined;
  const unit = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as "" | "K" | "M" | "G"];
  return Number(m[1]) * unit;
}

/** The largest cache sysfs reports for cpu0, else /proc/cpuinfo's "cache size", else 8 MiB. */
export function lastLevelCache(): { bytes: number; source: string } {
  let best: { bytes: number; source: string } | undefined;
  for (let i = 0; i < 8; i++) {
    const base = `/sys/devices/system/cpu/cpu0/cache/index${i}`;
    const size = readText(`${base}/size`);
    const bytes = size ? parseCacheSize(size) : undefined;
    if (bytes && (!best || bytes > best.bytes))
      best = { bytes, source: `L${readText(`${base}/level`)?.trim()} cache (sysfs)` };
  }
  if (best) return best;
  const cpuinfo = readText("/proc/cpuinfo");
  const line = cpuinfo && /^cache size\s*:\s*(.*)$/m.exec(cpuinfo)?.[1];
  const bytes = line ? parseCacheSize(line) : undefined;
  if (bytes) return { bytes, source: '/proc/cpuinfo "cache size"' };
  return { bytes: FALLBACK_CACHE_BYTES, source: "assumed (no cache size found)" };
}

export async function measureMachinePeak(runtime: Runtime, session: SessionOptions): Promise<MachinePeak> {
  const started = performance.now();
  const matmulSeconds = await fastestKernel(runtime, session, matmulGraph(), "MatMul", [
    MATMUL_SIZE,
    MATMUL_SIZE,
  ]);
  const copySeconds = await fastestKernel(runtime, session, copyGraph(), "Add", [COPY_ELEMENTS]);
  const cache = lastLevelCache();
  return {
    matmulFlopsPerSecond: (2 * MATMUL_SIZE ** 3) / matmulSeconds,
    memoryBytesPerSecond: (2 * 4 * COPY_ELEMENTS) / copySeconds,
    lastLevelCacheBytes: cache.bytes,
    cacheSource: cache.source,
    cpuFlags: cpuFlags(),
    machine: machineInfo(),
    measuredSeconds: (performance.now() - started) / 1000,
  };
}
