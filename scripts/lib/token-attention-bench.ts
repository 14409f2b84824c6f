/**
 * What the single-attention benches of token reduction (todo-op-bench.ts, tome-op-bench.ts) share:
 * SD1.5's full-resolution self-attention shape, smooth random tokens, variants timed round by round
 * in one process (a busy machine slows them alike), the output's error against the first variant,
 * and the JSON record with the machine and its CPU flags.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { machineInfo } from "../../src/bench/machine-info.js";
import type { Session } from "../../src/runtime/runtime.js";

/** down_blocks.0 / up_blocks.3 attn1: 320 channels in 8 heads. */
export const CHANNELS = 320;
export const HEADS = 8;

export const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

export const median = (xs: number[]): number => [...xs].sort((a, c) => a - c)[xs.length >> 1];

/** Uniform values in [-0.5, 0.5) from a 32-bit LCG: the same stream on every machine. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/**
 * Smooth random tokens [side², CHANNELS]: per channel a low-frequency wave along each axis plus a
 * little noise, so neighbours are alike as latent features are. `waveTable` values are drawn before
 * the noise (4 per channel are used); tome-op-bench's recorded figures were made with 8 per channel.
 */
export function smoothTokens(side: number, seed: number, waveTable = 4 * CHANNELS): Float32Array {
  const u = lcg(seed);
  const base = Float32Array.from({ length: waveTable }, u);
  const out = new Float32Array(side * side * CHANNELS);
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++)
      for (let c = 0; c < CHANNELS; c++) {
        const fy = Math.sin((y / side) * 6.3 + base[c]) * base[CHANNELS + c];
        const fx = Math.cos((x / side) * 6.3 + base[2 * CHANNELS + c]) * base[3 * CHANNELS + c];
        out[(y * side + x) * CHANNELS + c] = fy + fx + 0.1 * u();
      }
  return out;
}

export interface InterleavedTimes {
  /** Wall milliseconds per timed call, per session. */
  readonly times: number[][];
  /** Process CPU milliseconds (all threads) per timed call, per session. */
  readonly cpu: number[][];
  /** Each session's output "y" from its last call. */
  readonly outputs: Float32Array[];
}

/** One untimed round, then `runs` rounds calling every session once in turn with input "x". */
export async function runInterleaved(
  sessions: readonly Session[],
  x: { dims: number[]; data: Float32Array },
  runs: number,
): Promise<InterleavedTimes> {
  const times: number[][] = sessions.map(() => []);
  const cpu: number[][] = sessions.map(() => []);
  const outputs: Float32Array[] = [];
  for (let round = 0; round <= runs; round++) {
    for (let i = 0; i < sessions.length; i++) {
      const c0 = process.cpuUsage();
      const t = performance.now();
      outputs[i] = (await sessions[i].run({ x })).y.data as Float32Array;
      const ms = performance.now() - t;
      const c = process.cpuUsage(c0);
      if (round > 0) {
        times[i].push(ms);
        cpu[i].push((c.user + c.system) / 1000);
      }
    }
  }
  return { times, cpu, outputs };
}

/** RMS of (out − ref) over the RMS of ref. */
export function relativeRms(out: Float32Array, ref: Float32Array): number {
  let se = 0;
  let ss = 0;
  for (let k = 0; k < ref.length; k++) {
    se += (out[k] - ref[k]) ** 2;
    ss += ref[k] * ref[k];
  }
  return Math.sqrt(se / ss);
}

/** The run's record: command line, machine, every /proc/cpuinfo flag, threads, load and the rows. */
export function writeBenchJson(path: string, script: string, threads: number, results: object[]): void {
  let flags: string[] = [];
  try {
    flags = (/^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf-8"))?.[1] ?? "").trim().split(/\s+/);
  } catch {
    // not Linux: machineInfo() still names the CPU
  }
  const doc = {
    command: `npx tsx ${script} ${process.argv.slice(2).join(" ")}`,
    startedAt: new Date().toISOString(),
    machine: machineInfo(),
    cpuinfoFlags: flags,
    threads,
    loadAfter: load(),
    results,
  };
  writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`);
}
