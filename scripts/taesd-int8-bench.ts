/**
 * TAESD's decoder in fp32 vs int8 convs (graph/taesd-quantization.ts; "int8slices": the int8 graph
 * with the slices im2col instead of the gathered one, graph/taesd.ts int8Im2col; "int8low": int8 below
 * the full resolution only, int8FullResolution false), each with and without
 * onnxruntime's memory pool (the engine runs TAESD without it: engine/networks/taesd.ts), at one size
 * (512x512 by default, batch 1). Not part of `npm test`.
 *
 *   npx tsx scripts/taesd-int8-bench.ts [--taesd DIR] [--variants fp32,int8,int8slices,fp32-pool,int8-nopattern,...]
 *     [--runs 7] [--latent 64] [--work DIR] [--rss-rounds 1]
 *
 * (1) time: one process, every variant's session open side by side, decodes interleaved (round r
 * runs each variant once, the order rotating): median wall and CPU seconds (process.cpuUsage, all of
 * onnxruntime's threads) per decode; (2) error of each output against the fp32 decode of the same
 * latents, as the pipeline turns it into pixels (clamp((x+1)/2)·255, rounded): max and mean |diff|
 * in 8-bit levels and PSNR; (3) memory: each variant in a fresh child process (session from the
 * written graph, one decode), its RSS after the session and the kernel's peak mark (VmHWM).
 * Latents: smooth deterministic values of about unit size plus a seeded normal part (UNet latents are
 * about unit variance). Memory in decimal MB.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { readProcMemory } from "../src/bench/proc-status.js";
import { buildTaesdDecoderGraph, TAESD_DECODER_INPUT, TAESD_DECODER_OUTPUT } from "../src/graph/taesd.js";
import { writeModel } from "../src/graph/write-model.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import { openTaesd } from "../src/weights/standalone-vae.js";

const { values } = parseArgs({
  options: {
    taesd: { type: "string", default: "/work/bench/taesd" },
    variants: { type: "string", default: "fp32,int8,fp32-pool,int8-pool,fp32-nopattern,int8-nopattern" },
    runs: { type: "string", default: "7" },
    latent: { type: "string", default: "64" },
    work: { type: "string", default: "/work/bench/taesdspeed/graphs" },
    "rss-rounds": { type: "string", default: "1" },
    child: { type: "string" },
  },
});
const variants = values.variants.split(",");
const latent = Number(values.latent);
const threads = physicalCoreCount();

/**
 * "fp32" | "int8" | "int8slices" (the slices im2col) | "int8low" (float at full resolution), then "-pool" for onnxruntime's memory pool
 * and/or "-nopattern" for no memory pattern (the engine's TAESD session: no pool, a pattern).
 */
function parse(variant: string): { graph: string; pool: boolean; pattern: boolean } {
  const [graph, ...flags] = variant.split("-");
  if (!["fp32", "int8", "int8slices", "int8low"].includes(graph))
    throw new Error(`unknown variant ${variant}`);
  return { graph, pool: flags.includes("pool"), pattern: !flags.includes("nopattern") };
}

function graphPath(graph: string): string {
  const dir = resolve(values.work, `taesd-${graph}`);
  const modelPath = join(dir, "model.onnx");
  if (existsSync(modelPath)) return modelPath;
  const taesd = openTaesd(values.taesd);
  const options =
    graph === "fp32"
      ? {}
      : {
          quantization: "int8" as const,
          int8Im2col: graph === "int8" ? ("gather" as const) : ("slices" as const),
        };
  writeModel(buildTaesdDecoderGraph(taesd.weights, taesd.config, options), dir);
  taesd.close();
  return modelPath;
}

function input(): { dims: number[]; data: Float32Array } {
  const dims = [1, 4, latent, latent];
  const z = new Float32Array(dims.reduce((a, b) => a * b));
  let seed = 12345;
  const uniform = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed + 1) / 2147483649;
  };
  for (let i = 0; i < z.length; i++) {
    const normal = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    z[i] = Math.sin(i / 37) + 0.5 * Math.cos(i / 501) + 0.5 * normal;
  }
  return { dims, data: z };
}
const latents = input();

async function open(variant: string): Promise<Session> {
  const { graph, pool, pattern } = parse(variant);
  return onnxruntimeNode().createSession(
    { path: graphPath(graph) },
    { intraOpNumThreads: threads, cpuMemArena: pool, memPattern: pattern },
  );
}

async function decode(session: Session): Promise<Float32Array> {
  const out = await session.run({ [TAESD_DECODER_INPUT]: latents });
  return out[TAESD_DECODER_OUTPUT].data as Float32Array;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** As the pipeline writes pixels: [−1, 1] → clamp → 8-bit, rounded. */
function pixel(x: number): number {
  return Math.round(Math.min(1, Math.max(0, (x + 1) / 2)) * 255);
}

function pixelError(a: Float32Array, ref: Float32Array) {
  let max = 0;
  let sum = 0;
  let squares = 0;
  let rawMax = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(pixel(a[i]) - pixel(ref[i]));
    max = Math.max(max, d);
    sum += d;
    squares += d * d;
    rawMax = Math.max(rawMax, Math.abs(a[i] - ref[i]));
  }
  const mse = squares / a.length;
  return {
    maxLevels: max,
    meanLevels: sum / a.length,
    psnrDb: mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse),
    rawMax,
  };
}

async function memoryChild(variant: string) {
  const session = await open(variant);
  const loaded = readProcMemory("self")?.rssBytes ?? Number.NaN;
  const start = performance.now();
  await decode(session);
  const firstS = (performance.now() - start) / 1000;
  await decode(session);
  const peak = readProcMemory("self")?.hwmBytes ?? Number.NaN;
  await session.release();
  return { loadedMb: loaded / 1e6, peakMb: peak / 1e6, firstS };
}

async function timing() {
  const sessions = new Map<string, Session>();
  for (const v of variants) sessions.set(v, await open(v));
  const wall = new Map<string, number[]>(variants.map((v) => [v, []]));
  const cpu = new Map<string, number[]>(variants.map((v) => [v, []]));
  const outputs = new Map<string, Float32Array>();
  for (const v of variants) outputs.set(v, await decode(sessions.get(v)!)); // warm-up
  const loads: number[] = [];
  const runs = Number(values.runs);
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(i + r) % variants.length];
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await decode(sessions.get(v)!);
      wall.get(v)!.push((performance.now() - t0) / 1000);
      const c = process.cpuUsage(c0);
      cpu.get(v)!.push((c.user + c.system) / 1e6);
    }
    loads.push(loadavg()[0]);
    console.error(`round ${r + 1}/${runs} (load ${loadavg()[0].toFixed(2)})`);
  }
  for (const s of sessions.values()) await s.release();
  const reference = outputs.get("fp32") ?? (await decode(await open("fp32")));
  return {
    loads,
    rows: variants.map((v) => ({
      variant: v,
      wallS: median(wall.get(v)!),
      wallRange: [Math.min(...wall.get(v)!), Math.max(...wall.get(v)!)],
      cpuS: median(cpu.get(v)!),
      error: pixelError(outputs.get(v)!, reference),
    })),
  };
}

if (values.child) {
  process.stdout.write(`${JSON.stringify(await memoryChild(values.child))}\n`);
} else {
  const flags = readFileSync("/proc/cpuinfo", "utf-8").match(/^flags\s*:\s*(.*)$/m)?.[1] ?? "";
  const wanted = /^(avx|avx2|fma|f16c|avx512\w*|avx_vnni|amx\w*)$/;
  console.log(
    `${cpus()[0]?.model}, ${threads} threads; flags: ${flags
      .split(" ")
      .filter((f) => wanted.test(f))
      .join(" ")}`,
  );
  console.log(
    `TAESD decoder ${values.taesd}, ${8 * latent}x${8 * latent}, batch 1, ${values.runs} interleaved rounds; load at start ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  for (const v of variants) graphPath(parse(v).graph); // build outside the measured parts
  const peaks = new Map<string, ReturnType<typeof JSON.parse>[]>(variants.map((v) => [v, []]));
  for (let r = 0; r < Number(values["rss-rounds"]); r++) {
    for (const v of variants) {
      const out = execFileSync(
        process.execPath,
        ["--import", "tsx", process.argv[1], ...process.argv.slice(2), "--child", v],
        { encoding: "utf-8", stdio: ["ignore", "pipe", "inherit"] },
      );
      const m = JSON.parse(out.trim().split("\n").at(-1)!);
      peaks.get(v)!.push(m);
      console.error(`${v}: ${JSON.stringify(m)}`);
    }
  }
  const { loads, rows } = await timing();
  console.log(`load average (1 min) during the rounds: ${loads.map((l) => l.toFixed(2)).join(" ")}`);
  console.log(
    "| variant | decode (median) | range | CPU s / decode | vs fp32: max / mean |diff| (8-bit levels), PSNR | RSS after session | peak RSS (fresh process, 2 decodes) | first decode of a fresh session (median, all rss rounds) |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const t of rows) {
    const ms = peaks.get(t.variant)!;
    const e = t.error;
    console.log(
      `| ${t.variant} | ${t.wallS.toFixed(3)} s | ${t.wallRange[0].toFixed(3)}–${t.wallRange[1].toFixed(3)} s | ${t.cpuS.toFixed(2)} | ${e.maxLevels} / ${e.meanLevels.toFixed(3)}, ${e.psnrDb.toFixed(1)} dB | ${median(ms.map((m) => m.loadedMb)).toFixed(0)} MB | ${median(ms.map((m) => m.peakMb)).toFixed(0)} MB | ${median(ms.map((m) => m.firstS)).toFixed(3)} s (${ms.map((m) => m.firstS.toFixed(2)).join(", ")}) |`,
    );
  }
}
