/**
 * The image decoders' 3x3 convs direct vs Winograd (graph/conv-algorithm.ts): TAESD's decoder and the
 * full VAE's decoder at one size (512x512 by default, batch 1). Not part of `npm test`.
 *
 *   npx tsx scripts/decoder-winograd-bench.ts [--taesd DIR] [--checkpoint FILE] [--networks taesd,vae,vae-encoder]
 *     [--algorithms direct,winograd-f2,winograd-f4] [--runs 5] [--latent 64] [--work DIR] [--rss-rounds 1]
 *
 * Per network: (1) time — one process, every algorithm's session open side by side, the decodes
 * interleaved (round r runs each algorithm once, the order rotating), median wall seconds and CPU
 * seconds (process.cpuUsage: all of onnxruntime's threads) per decode, and each output's max |diff|
 * against the direct decode of the same latents; (2) memory — each algorithm in a fresh child process
 * (session created from the written graph, one decode) so the kernel's peak-RSS mark (VmHWM) is its
 * alone. Graphs are written once under --work (reused when present). The sessions take the engine's
 * settings: TAESD without onnxruntime's memory pool (engine/networks/taesd.ts), the VAE with it.
 * Memory in decimal MB. Loads the full-size VAE: run it under `flock /work/bench/heavy.lock`.
 * An algorithm with "+bn" (e.g. "direct+bn") builds GroupNorm's affine as one BatchNormalization
 * (layers.ts NormAffine; the VAE's networks only).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { readProcMemory } from "../src/bench/proc-status.js";
import type { ConvAlgorithm } from "../src/graph/conv-algorithm.js";
import { buildTaesdDecoderGraph, TAESD_DECODER_INPUT, TAESD_DECODER_OUTPUT } from "../src/graph/taesd.js";
import {
  buildVaeDecoderGraph,
  buildVaeEncoderGraph,
  VAE_DECODER_INPUT,
  VAE_DECODER_OUTPUT,
  VAE_ENCODER_INPUT,
  VAE_ENCODER_OUTPUTS,
} from "../src/graph/vae.js";
import { writeModel } from "../src/graph/write-model.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { Session, SessionOptions } from "../src/runtime/runtime.js";
import { loadModel } from "../src/weights/load-model.js";
import { openTaesd } from "../src/weights/standalone-vae.js";

const { values } = parseArgs({
  options: {
    taesd: { type: "string", default: "/work/bench/taesd" },
    checkpoint: { type: "string", default: "/work/bench/sd15/model.safetensors" },
    networks: { type: "string", default: "taesd,vae" },
    algorithms: { type: "string", default: "direct,winograd-f2,winograd-f4" },
    runs: { type: "string", default: "5" },
    latent: { type: "string", default: "64" },
    work: { type: "string", default: "/work/bench/decwino/graphs" },
    "rss-rounds": { type: "string", default: "1" },
    child: { type: "string" },
  },
});
/** TAESD's decoder, the full VAE's decoder, the full VAE's encoder (an image of the same size in). */
type Network = "taesd" | "vae" | "vae-encoder";
/** A conv algorithm, optionally with "+bn" (see the header). */
type Algorithm = string;
const algorithms: Algorithm[] = values.algorithms.split(",");
const latent = Number(values.latent);
const threads = physicalCoreCount();

const io = {
  taesd: { input: TAESD_DECODER_INPUT, output: TAESD_DECODER_OUTPUT, cpuMemArena: false },
  vae: { input: VAE_DECODER_INPUT, output: VAE_DECODER_OUTPUT, cpuMemArena: true },
  "vae-encoder": { input: VAE_ENCODER_INPUT, output: VAE_ENCODER_OUTPUTS.moments, cpuMemArena: true },
};

/** The written graph of `network` under `algorithm` (built on the first call). */
function graphPath(network: Network, algorithm: Algorithm): string {
  const dir = resolve(values.work, `${network}-${algorithm}`);
  const modelPath = join(dir, "model.onnx");
  if (existsSync(modelPath)) return modelPath;
  const [conv, form] = algorithm.split("+") as [ConvAlgorithm, string | undefined];
  const options = {
    ...(conv === "direct" ? {} : { convAlgorithm: conv }),
    ...(form === "bn" ? { normAffine: "batch-normalization" as const } : {}),
  };
  if (network === "taesd") {
    const taesd = openTaesd(values.taesd);
    writeModel(buildTaesdDecoderGraph(taesd.weights, taesd.config, options), dir);
    taesd.close();
  } else {
    const model = loadModel(values.checkpoint);
    if (!model.vae) throw new Error(`${values.checkpoint}: no VAE`);
    const build = network === "vae" ? buildVaeDecoderGraph : buildVaeEncoderGraph;
    writeModel(build(model.vae.weights, model.vae.config, options), dir);
    model.close();
  }
  return modelPath;
}

/** Smooth latents (or an image) of unit size: the networks' cost does not depend on the content. */
function input(network: Network): { dims: number[]; data: Float32Array } {
  const dims = network === "vae-encoder" ? [1, 3, 8 * latent, 8 * latent] : [1, 4, latent, latent];
  const z = new Float32Array(dims.reduce((a, b) => a * b));
  for (let i = 0; i < z.length; i++) z[i] = Math.sin(i / 37) + 0.5 * Math.cos(i / 501);
  return { dims, data: z };
}

async function open(network: Network, algorithm: Algorithm): Promise<Session> {
  const options: SessionOptions = { intraOpNumThreads: threads, cpuMemArena: io[network].cpuMemArena };
  return onnxruntimeNode().createSession({ path: graphPath(network, algorithm) }, options);
}

async function decode(network: Network, session: Session): Promise<Float32Array> {
  const out = await session.run({ [io[network].input]: input(network) });
  return out[io[network].output].data as Float32Array;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Child: one session, one decode; the process's resident memory before and its peak after. */
async function memoryChild(network: Network, algorithm: Algorithm) {
  const base = readProcMemory("self")?.rssBytes ?? Number.NaN;
  const session = await open(network, algorithm);
  const loaded = readProcMemory("self")?.rssBytes ?? Number.NaN;
  const start = performance.now();
  await decode(network, session);
  const firstS = (performance.now() - start) / 1000;
  const peak = readProcMemory("self")?.hwmBytes ?? Number.NaN;
  await session.release();
  return { baseMb: base / 1e6, loadedMb: loaded / 1e6, peakMb: peak / 1e6, firstS };
}

async function timing(network: Network) {
  const sessions = new Map<Algorithm, Session>();
  for (const a of algorithms) sessions.set(a, await open(network, a));
  const wall = new Map<Algorithm, number[]>(algorithms.map((a) => [a, []]));
  const cpu = new Map<Algorithm, number[]>(algorithms.map((a) => [a, []]));
  const outputs = new Map<Algorithm, Float32Array>();
  for (const a of algorithms) outputs.set(a, await decode(network, sessions.get(a)!)); // warm-up
  const runs = Number(values.runs);
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < algorithms.length; i++) {
      const a = algorithms[(i + r) % algorithms.length];
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await decode(network, sessions.get(a)!);
      wall.get(a)!.push((performance.now() - t0) / 1000);
      const c = process.cpuUsage(c0);
      cpu.get(a)!.push((c.user + c.system) / 1e6);
    }
    console.error(`${network} round ${r + 1}/${runs} (load ${loadavg()[0].toFixed(2)})`);
  }
  for (const s of sessions.values()) await s.release();
  // against the direct decode, or the first algorithm's where direct is not among them
  const direct = outputs.get("direct") ?? outputs.get(algorithms[0]);
  return algorithms.map((a) => ({
    algorithm: a,
    wallS: median(wall.get(a)!),
    wallRange: [Math.min(...wall.get(a)!), Math.max(...wall.get(a)!)],
    cpuS: median(cpu.get(a)!),
    maxAbsVsDirect: direct ? maxAbsDiff(outputs.get(a)!, direct) : Number.NaN,
  }));
}

if (values.child) {
  const [network, algorithm] = values.child.split(":") as [Network, ConvAlgorithm];
  process.stdout.write(`${JSON.stringify(await memoryChild(network, algorithm))}\n`);
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
    `${8 * latent}x${8 * latent} decode, batch 1, ${values.runs} interleaved rounds; load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  for (const network of values.networks.split(",") as Network[]) {
    for (const a of algorithms) graphPath(network, a); // build outside the timed and measured parts
    const peaks = new Map<Algorithm, ReturnType<typeof JSON.parse>[]>(algorithms.map((a) => [a, []]));
    for (let r = 0; r < Number(values["rss-rounds"]); r++) {
      for (const a of algorithms) {
        const out = execFileSync(
          process.execPath,
          ["--import", "tsx", process.argv[1], ...process.argv.slice(2), "--child", `${network}:${a}`],
          { encoding: "utf-8", stdio: ["ignore", "pipe", "inherit"] },
        );
        const m = JSON.parse(out.trim().split("\n").at(-1)!);
        peaks.get(a)!.push(m);
        console.error(`${network} ${a}: ${JSON.stringify(m)}`);
      }
    }
    const times = await timing(network);
    console.log(`\n${network === "vae-encoder" ? "VAE encoder" : `${network} decoder`}`);
    console.log(
      "| algorithm | decode (median) | range | CPU s / decode | max abs vs direct (else the first) | RSS after session | peak RSS (fresh process, 1 decode) |",
    );
    console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const t of times) {
      const ms = peaks.get(t.algorithm)!;
      console.log(
        `| ${t.algorithm} | ${t.wallS.toFixed(3)} s | ${t.wallRange[0].toFixed(3)}–${t.wallRange[1].toFixed(3)} s | ${t.cpuS.toFixed(2)} | ${t.maxAbsVsDirect.toExponential(2)} | ${median(ms.map((m) => m.loadedMb)).toFixed(0)} MB | ${median(ms.map((m) => m.peakMb)).toFixed(0)} MB |`,
      );
    }
  }
}
