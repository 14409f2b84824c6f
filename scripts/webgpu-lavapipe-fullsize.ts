/**
 * A full-size SD1.5 image on WebGPU with no GPU: onnxruntime-node's WebGPU provider on Mesa's
 * lavapipe (software Vulkan with f16 shaders, test/helpers/webgpu-adapter.ts), through the engine
 * as `generate --device webgpu` runs it (the WebGPU graph variant: fp16 compute, sliced attention at
 * the UNet's full resolution, fused ops; one network loaded at a time). lavapipe keeps "device"
 * memory in host memory, so the process's resident memory is an upper bound on what a GPU would
 * hold (it also counts Node, onnxruntime's CPU side and any host copy of the weights): this script
 * records it per stage, from a runtime wrapper around every session creation, run and release,
 * resetting the kernel's high-water mark (VmHWM, via /proc/self/clear_refs) before each, so each
 * event's peak is its own.
 *
 * A tighter measure: lavapipe (llvmpipe's allocate_memory_fd) backs every Vulkan device allocation
 * with a mapping of one memfd named "allocation fd", mapped while the allocation lives, so the sum of
 * those mappings' sizes in /proc/self/maps is the device memory Dawn holds (its suballocator's blocks,
 * onnxruntime's buffer cache and upload staging included: what a GPU would hold too). A worker thread
 * samples it every 200 ms (onnxruntime-node blocks the main thread during session creation and runs)
 * with VmRSS, keeps each event's peak and writes a timeline `<label>.timeline.tsv`. Allocations that
 * live under 200 ms can be missed, so that peak is a lower bound on the device memory's peak, VmHWM an
 * upper bound.
 *
 *   VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json npx tsx scripts/webgpu-lavapipe-fullsize.ts \
 *       [--runtime node|web] [--only unet|image] [--precision fp16|fp32] [--size 512] [--steps 1] [--cfg 1] [--sampler LCM]
 *       [--decoder taesd|vae] [--checkpoint FILE] [--taesd DIR] [--cache DIR] [--out DIR] [--label NAME]
 *
 * `--runtime web` runs onnxruntime-web (the in-tab engine's runtime, its WebGPU build: the same native
 * provider compiled to wasm) instead of onnxruntime-node, in Node, not in a browser: on `navigator.gpu`
 * from Dawn's Node bindings (dawn.node, test/helpers/dawn-node-webgpu.ts) over the same lavapipe; its
 * graphs are built in memory (onnxruntime-web takes bytes, never a cache path), and Dawn runs in this
 * process as onnxruntime-node's does, so the same "allocation fd" sum is its device memory.
 *
 * `--only unet` opens the pipeline and runs the UNet once on random latents and context (batch 2
 * when --cfg > 1): session creation and one call, to learn the speed first. `--only image` (default)
 * runs a whole txt2img and writes the PNG and its pixel statistics. Writes `<out>/<label>.json`,
 * rewritten after every event so a run stopped by `timeout` keeps what it reached. Full-size runs
 * go through the shared lock: `flock /work/bench/heavy.lock timeout 900 npx tsx …`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { readProcMemory } from "../src/bench/proc-status.js";
import { GraphCache } from "../src/cache/graph-cache.js";
import { openPipeline } from "../src/engine/open-pipeline.js";
import type { ComputePrecision } from "../src/graph/float16-compute.js";
import { TEXT_ENCODER_INPUT } from "../src/graph/text-encoder.js";
import { UNET_INPUTS } from "../src/graph/unet.js";
import { VAE_DECODER_INPUT } from "../src/graph/vae.js";
import { encodePng } from "../src/image/png.js";
import { generate } from "../src/pipeline/generate.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { OnnxruntimeWeb } from "../src/runtime/onnxruntime-web.js";
import type { ModelSource, Runtime, Session, SessionFeed, SessionOptions } from "../src/runtime/runtime.js";
import { LAVAPIPE_ICD } from "../test/helpers/webgpu-adapter.js";

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node" },
    only: { type: "string", default: "image" },
    precision: { type: "string", default: "fp16" },
    size: { type: "string", default: "512" },
    steps: { type: "string", default: "1" },
    cfg: { type: "string", default: "1" },
    sampler: { type: "string", default: "LCM" },
    seed: { type: "string", default: "42" },
    decoder: { type: "string", default: "taesd" },
    checkpoint: { type: "string", default: "/work/bench/sd15/model.safetensors" },
    taesd: { type: "string", default: "/work/bench/taesd" },
    cache: { type: "string", default: "/work/bench/lvp512/cache" },
    out: { type: "string", default: "/work/bench/lvp512/out" },
    label: { type: "string" },
  },
});
const only = values.only as "unet" | "image";
if (only !== "unet" && only !== "image") throw new Error(`--only must be unet or image, got ${only}`);
const runtimeName = values.runtime as "node" | "web";
if (runtimeName !== "node" && runtimeName !== "web")
  throw new Error(`--runtime must be node or web, got ${runtimeName}`);
const precision = values.precision as ComputePrecision;
const size = Number(values.size);
const cfg = Number(values.cfg);
const steps = Number(values.steps);
const decoder = values.decoder as "taesd" | "vae";
const label =
  values.label ??
  `${runtimeName === "web" ? "ortweb-" : ""}${only}-${precision}-${size}-cfg${cfg}-${decoder}`;
const outDir = resolve(values.out as string);
mkdirSync(outDir, { recursive: true });
// Dawn reads the driver list once, when the first WebGPU session is made: set before any session
process.env.VK_ICD_FILENAMES ??= LAVAPIPE_ICD;

const GB = 1e9;
const t0 = performance.now();
const seconds = () => Math.round((performance.now() - t0) / 100) / 10;
const gb = (bytes: number | undefined) => (bytes === undefined ? undefined : Math.round(bytes / 1e6) / 1e3);

/** Resets the kernel's VmHWM to the current VmRSS (Linux: "5" to clear_refs), so the next peak is a stage's own. */
function resetPeak(): void {
  writeFileSync("/proc/self/clear_refs", "5");
}
function memory() {
  const m = readProcMemory("self");
  return { rssGB: gb(m?.rssBytes), peakGB: gb(m?.hwmBytes) };
}

/**
 * The device-memory sampler (see the header): shared[0] the device bytes now, shared[1] their peak
 * since the main thread last reset it to 0, shared[2] the largest device bytes ever.
 */
const shared = new Float64Array(new SharedArrayBuffer(3 * 8));
const SAMPLER = `
const { workerData } = require("node:worker_threads");
const { readFileSync, appendFileSync, writeFileSync } = require("node:fs");
const shared = new Float64Array(workerData.buffer);
writeFileSync(workerData.file, "seconds\\tdevice_bytes\\trss_bytes\\n");
let lines = [];
let last = 0;
function sample() {
  let device = 0;
  for (const line of readFileSync("/proc/self/maps", "utf-8").split("\\n")) {
    if (!line.includes("/memfd:allocation")) continue;
    const [start, end] = line.slice(0, line.indexOf(" ")).split("-");
    device += parseInt(end, 16) - parseInt(start, 16);
  }
  const rss = Number(/^VmRSS:\\s+(\\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf-8"))[1]) * 1024;
  shared[0] = device;
  shared[1] = Math.max(shared[1], device);
  shared[2] = Math.max(shared[2], device);
  const now = (performance.timeOrigin + performance.now() - workerData.t0) / 1000;
  lines.push(now.toFixed(1) + "\\t" + device + "\\t" + rss);
  if (now - last > 5) { appendFileSync(workerData.file, lines.join("\\n") + "\\n"); lines = []; last = now; }
}
setInterval(sample, 200);
sample();
`;
const sampler = new Worker(SAMPLER, {
  eval: true,
  workerData: {
    buffer: shared.buffer,
    t0: performance.timeOrigin + t0,
    file: join(outDir, `${label}.timeline.tsv`),
  },
});
sampler.unref();
const deviceGB = () => gb(shared[0]);

interface MemoryEvent {
  event: string;
  what: string;
  startS: number;
  seconds: number;
  rssBeforeGB?: number;
  peakGB?: number;
  rssAfterGB?: number;
  deviceBeforeGB?: number;
  devicePeakGB?: number;
  deviceAfterGB?: number;
}
const events: MemoryEvent[] = [];
const result: Record<string, unknown> = {
  label,
  argv: process.argv.slice(2),
  env: { VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES },
  loadAverageStart: loadavg(),
  events,
};
/** The events started and not yet finished, outermost first. */
const running: { event: string; what: string; startS: number }[] = [];
result.running = running;
const save = () => writeFileSync(join(outDir, `${label}.json`), `${JSON.stringify(result, null, 1)}\n`);

/** Runs `work` as one event: its own peak resident memory (VmHWM reset before) and time. */
async function measured<T>(event: string, what: string, work: () => Promise<T>): Promise<T> {
  const before = memory();
  const deviceBefore = deviceGB();
  resetPeak();
  shared[1] = 0;
  const start = seconds();
  const firstInner = events.length;
  // a run stopped by `timeout` keeps what was under way (the timeline has its memory)
  const under = { event, what, startS: start };
  running.push(under);
  save();
  console.log(`[${start}s] ${event} ${what}: start (rss ${before.rssGB} GB)`);
  try {
    return await work();
  } finally {
    // the sampler's figure is up to 200 ms old: let it see the event's end
    await new Promise((r) => setTimeout(r, 450));
    const after = memory();
    // events inside this one reset the high-water mark: their peaks count as this one's too
    const inner = events.slice(firstInner).map((x) => x.peakGB ?? 0);
    const innerDevice = events.slice(firstInner).map((x) => x.devicePeakGB ?? 0);
    const e = {
      event,
      what,
      startS: start,
      seconds: Math.round((seconds() - start) * 10) / 10,
      rssBeforeGB: before.rssGB,
      peakGB: Math.max(after.peakGB ?? 0, ...inner),
      rssAfterGB: after.rssGB,
      deviceBeforeGB: deviceBefore,
      devicePeakGB: Math.max(gb(shared[1]) ?? 0, deviceBefore ?? 0, deviceGB() ?? 0, ...innerDevice),
      deviceAfterGB: deviceGB(),
    };
    events.push(e);
    running.splice(running.indexOf(under), 1);
    console.log(
      `[${seconds()}s] ${event} ${what}: ${e.seconds} s, peak rss ${e.peakGB} GB, rss after ${e.rssAfterGB} GB, ` +
        `device peak ${e.devicePeakGB} GB, after ${e.deviceAfterGB} GB`,
    );
    save();
  }
}

/** Which network a session is, from its inputs (the graphs' input names). */
function networkName(session: Session): string {
  const inputs = session.inputNames;
  if (inputs.includes(UNET_INPUTS.timestep)) return "unet";
  if (inputs.includes(TEXT_ENCODER_INPUT)) return "text-encoder";
  if (inputs.includes(VAE_DECODER_INPUT)) return `${decoder}-decoder`;
  // the device-resident context's one-node Identity graph (engine/device-resident-feeds.ts)
  return `identity (${inputs.join(",")})`;
}

/** The runtime with every session creation, run and release measured. */
function measuredRuntime(inner: Runtime): Runtime {
  const wrap = (session: Session): Session => {
    const name = networkName(session);
    return {
      inputNames: session.inputNames,
      outputNames: session.outputNames,
      run: (feeds: Readonly<Record<string, SessionFeed>>, outputNames?: readonly string[]) =>
        measured("run", name, () => session.run(feeds, outputNames)),
      runToDevice: session.runToDevice
        ? (feeds, outputNames) => measured("run", name, () => session.runToDevice!(feeds, outputNames))
        : undefined,
      release: () => measured("release", name, () => session.release()),
      endProfiling: session.endProfiling?.bind(session),
    };
  };
  return {
    name: inner.name,
    availableProviders: () => inner.availableProviders(),
    createSession: async (model: ModelSource, options?: SessionOptions) => {
      const what = "path" in model ? model.path.split("/").slice(-2).join("/") : "in-memory graph";
      return wrap(await measured("create-session", what, () => inner.createSession(model, options)));
    },
    optimizedModelFingerprint: inner.optimizedModelFingerprint?.bind(inner),
    optimizedModelLoadOptions: inner.optimizedModelLoadOptions?.bind(inner),
    deviceTensors: inner.deviceTensors?.bind(inner),
    liveDeviceTensors: inner.liveDeviceTensors?.bind(inner),
  };
}

/** Deterministic values in [-1, 1) (a 31-bit LCG): the UNet probe's latents and context. */
function lcgValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = s / 1073741824 - 1;
  }
  return out;
}

/** min, max, mean and standard deviation of the image's bytes, per channel and overall. */
function pixelStats(data: Uint8Array | Uint8ClampedArray) {
  const channel = (c: number | undefined) => {
    let min = 255;
    let max = 0;
    let sum = 0;
    let sq = 0;
    let n = 0;
    for (let i = c ?? 0; i < data.length; i += c === undefined ? 1 : 3) {
      const v = data[i];
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
      sq += v * v;
      n++;
    }
    const mean = sum / n;
    return {
      min,
      max,
      mean: Math.round(mean * 100) / 100,
      std: Math.round(Math.sqrt(sq / n - mean * mean) * 100) / 100,
    };
  };
  return { all: channel(undefined), r: channel(0), g: channel(1), b: channel(2) };
}

/** Finite count and range of a float output (the UNet probe's noise prediction). */
function floatStats(v: Float32Array) {
  let finite = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const x of v) {
    if (!Number.isFinite(x)) continue;
    finite++;
    min = Math.min(min, x);
    max = Math.max(max, x);
  }
  return { length: v.length, finite, min, max };
}

result.start = memory();
console.log(`${label}: VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES}, rss at start ${memory().rssGB} GB`);
// Dawn reads VK_ICD_FILENAMES (set above) when navigator.gpu is made: importOrtWebGpu makes it
// (imported only for it: dawn.node is a second Dawn beside onnxruntime-node's)
const dawnNode = runtimeName === "web" ? await import("../test/helpers/dawn-node-webgpu.js") : undefined;
const inner = dawnNode
  ? new OnnxruntimeWeb(await dawnNode.importOrtWebGpu(), { numThreads: 1 })
  : onnxruntimeNode();
result.runtime = inner.name;
const pipeline = await measured("open-pipeline", "load weights, no sessions", () =>
  openPipeline(values.checkpoint as string, {
    taesd: values.taesd,
    runtime: {
      backend: measuredRuntime(inner),
      executionProviders: ["webgpu"],
      cache: runtimeName === "web" ? false : new GraphCache(resolve(values.cache as string)),
    },
    memory: { lowMemory: true },
    speed: { precision, decoder },
  }),
);
result.loading = pipeline.loading;
try {
  if (only === "unet") {
    const batch = cfg > 1 ? 2 : 1;
    const side = size / 8;
    const out = await measured("unet-call", `batch ${batch}, ${side}x${side} latent (session + run)`, () =>
      pipeline.models.unet.predict({
        sample: lcgValues(batch * 4 * side * side, 1),
        shape: [batch, 4, side, side],
        timestep: new Float32Array(batch).fill(999),
        context: lcgValues(batch * 77 * pipeline.models.textEncoder.hiddenSize, 2),
        tokens: 77,
      }),
    );
    result.unetOutput = floatStats(out);
  } else {
    const [image] = await measured(
      "generate",
      `${size}x${size}, ${values.sampler} ${steps} step(s), cfg ${cfg}`,
      () =>
        generate(pipeline.models, {
          prompt: "a photo of a lighthouse on a cliff at dusk",
          sampler: values.sampler as string,
          steps,
          guidance: cfg,
          seed: Number(values.seed),
          width: size,
          height: size,
        }),
    );
    const png = join(outDir, `${label}.png`);
    writeFileSync(png, encodePng({ ...image.image, channels: 3 }));
    result.image = { file: png, stats: pixelStats(image.image.data) };
  }
} catch (err) {
  result.error = err instanceof Error ? `${err.message}\n${err.stack}` : String(err);
  console.error(err);
  process.exitCode = 1;
} finally {
  await measured("close", "pipeline", () => pipeline.close());
  await sampler.terminate();
  // dawn.node's event-loop timer (--runtime web) would keep the process alive
  dawnNode?.releaseDawnNodeGpu();
  result.end = memory();
  result.totalSeconds = seconds();
  result.loadAverageEnd = loadavg();
  result.peakOfEventsGB = Math.max(...events.map((e) => e.peakGB ?? 0));
  result.devicePeakGB = gb(shared[2]);
  save();
  console.log(JSON.stringify(result, null, 1));
  console.log(
    `peak RSS over all events: ${result.peakOfEventsGB} GB (upper bound on GPU memory); ` +
      `lavapipe device memory peak ${result.devicePeakGB} GB (sampled); GB = ${GB} bytes`,
  );
}
