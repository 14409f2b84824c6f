/**
 * What one stage process does: open the pipeline with the job's engine options, run the stage's
 * workload once to warm up (loading or building its graphs), then the timed runs. Inputs are made
 * from the job's seed before any timing starts.
 */
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { GraphCache } from "../cache/graph-cache.js";
import { cacheEntryKind } from "../cache/graph-key.js";
import type { DecoderKind, EngineOptions } from "../engine/engine-options.js";
import type { HintedUnetRuntime } from "../engine/hinted-unet-runtime.js";
import { type OpenedPipeline, openPipeline } from "../engine/open-pipeline.js";
import type { PipelineModels } from "../pipeline/generate.js";
import { GENERATION_JOB_VERSION, type GenerationJob } from "../pipeline/generation-job.js";
import { encodePrompt, WINDOW } from "../pipeline/prompt-encoder.js";
import { runGenerationJob } from "../pipeline/run-generation-job.js";
import { TorchCpuGenerator } from "../rng/index.js";
import { onnxruntimeNode } from "../runtime/onnxruntime-node.js";
import { RecordingRuntime } from "../runtime/recording-runtime.js";
import { NetworkClock } from "./network-clock.js";
import { engineOptionsFromSet } from "./option-set.js";
import type { RunTiming, StageJob, StageOutcome, StageProgress, StartupTiming } from "./stage-job.js";

/** Complete graph cache entries (temporary build folders excluded). */
export function countCacheEntries(cacheDir: string): number {
  const dir = `${cacheDir}/graphs`;
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).filter((name) => !name.includes(".tmp-")).length;
}

function engineOptions(
  job: StageJob,
  decoder?: DecoderKind,
  recorder?: RecordingRuntime,
  unetWorker?: HintedUnetRuntime,
): EngineOptions {
  const options = engineOptionsFromSet(job.options);
  // the decoder stages time one decoder each, whatever the option set's decoder
  const stageDecoder = job.stage === "vae" ? "vae" : job.stage === "taesd" ? "taesd" : undefined;
  return {
    ...options,
    taesd: job.taesdPath,
    runtime: {
      ...options.runtime,
      ...(recorder ? { backend: recorder } : {}),
      // a low-memory set runs as `sdlite generate --fast` does: the UNet loads (or was preloaded) in a
      // worker thread while the prompt is encoded (stage-unet-preload.ts); any other set as `sdlite
      // serve` does, in one thread (a worker's second onnxruntime environment adds ~0.1 GB to the
      // server set's peak: docs/benchmarks.md "Issue 15's targets after session 9's work")
      ...(recorder && unetWorker ? { unetBackend: recorder.alongside(unetWorker.runtime) } : {}),
      cache: new GraphCache(job.cacheDir),
      ...(job.threads !== undefined ? { threads: job.threads } : {}),
    },
    speed: { ...options.speed, ...((decoder ?? stageDecoder) ? { decoder: decoder ?? stageDecoder } : {}) },
  };
}

function timedModels(models: PipelineModels, clock: NetworkClock): PipelineModels {
  return {
    ...models,
    textEncoder: clock.wrap("text-encoder", models.textEncoder, "encode"),
    // DeepCache predicts through a per-run network (startRun): its calls count as the UNet's
    unet: clock.wrap("unet", models.unet, "predict", ["startRun"]),
    vae: clock.wrap("decoder", models.vae, "decode"),
  };
}

interface Workload {
  run(): Promise<void>;
  /** The PNG the last run produced (with its infotext), for the image stage. */
  lastPng?(): Uint8Array | undefined;
}

/** The image stage's generation as a job: the option set (scalar fields only) as job settings. */
export function benchImageJob(job: StageJob): GenerationJob {
  const { vae, variant, runtime, memory, speed } = engineOptionsFromSet(job.options);
  return {
    version: GENERATION_JOB_VERSION,
    model: { path: job.modelPath, ...(vae ? { vae } : {}), ...(variant ? { variant } : {}) },
    loras: [],
    request: { ...job.image, width: job.size, height: job.size },
    engine: {
      ...(job.taesdPath ? { taesd: job.taesdPath } : {}),
      runtime: {
        ...(runtime?.executionProviders ? { executionProviders: runtime.executionProviders } : {}),
        ...((job.threads ?? runtime?.threads) !== undefined
          ? { threads: job.threads ?? runtime?.threads }
          : {}),
      },
      ...(memory ? { memory } : {}),
      ...(speed ? { speed } : {}),
    },
  };
}

function workload(job: StageJob, pipeline: OpenedPipeline): Workload {
  const { models } = pipeline;
  const rng = new TorchCpuGenerator(job.image.seed);
  const latent = job.size / 8;
  const { prompt } = job.image;
  switch (job.stage) {
    case "text":
      return { run: async () => void (await encodePrompt(prompt, models.tokenizer, models.textEncoder, 1)) };
    case "unet1":
    case "unet2": {
      const batch = job.stage === "unet1" ? 1 : 2;
      const sample = rng.randn([batch, models.unet.inChannels, latent, latent]);
      const context = rng.randn([batch, WINDOW, models.textEncoder.hiddenSize]);
      const timestep = new Float32Array(batch).fill(999);
      const shape = [batch, models.unet.inChannels, latent, latent] as const;
      return {
        run: async () =>
          void (await models.unet.predict({ sample, shape, timestep, context, tokens: WINDOW })),
      };
    }
    case "vae":
    case "taesd": {
      const latents = rng.randn([1, 4, latent, latent]);
      return { run: async () => void (await models.vae.decode(latents, [1, 4, latent, latent])) };
    }
    case "image": {
      let last: Uint8Array | undefined;
      const imageJob = benchImageJob(job);
      return {
        run: async () => {
          const [made] = (await runGenerationJob(imageJob, { pipeline, hashModel: false })).images;
          last = new Uint8Array(Buffer.from(made.png, "base64"));
        },
        lastPng: () => last,
      };
    }
    case "startup":
      throw new Error("start-up is not a repeated workload");
  }
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/**
 * Each network's first call (graph load or build) and second call, in a fresh process; TAESD too
 * when its weights are given and the option set decodes with the VAE.
 */
async function runStartup(
  models: PipelineModels,
  job: StageJob,
  taesd: PipelineModels | undefined,
): Promise<StartupTiming[]> {
  const rng = new TorchCpuGenerator(job.image.seed);
  const latent = job.size / 8;
  const sample = rng.randn([1, models.unet.inChannels, latent, latent]);
  const context = rng.randn([1, WINDOW, models.textEncoder.hiddenSize]);
  const latents = rng.randn([1, 4, latent, latent]);
  const calls: [string, () => Promise<unknown>][] = [
    ["text-encoder", () => encodePrompt(job.image.prompt, models.tokenizer, models.textEncoder, 1)],
    [
      "unet",
      () =>
        models.unet.predict({
          sample,
          shape: [1, models.unet.inChannels, latent, latent],
          timestep: new Float32Array([999]),
          context,
          tokens: WINDOW,
        }),
    ],
    [`decoder (${job.options.decoder ?? "vae"})`, () => models.vae.decode(latents, [1, 4, latent, latent])],
  ];
  if (taesd) calls.push(["decoder (taesd)", () => taesd.vae.decode(latents, [1, 4, latent, latent])]);
  const out: StartupTiming[] = [];
  for (const [network, call] of calls) {
    const firstMs = await timeIt(call);
    const secondMs = await timeIt(call);
    out.push({ network, firstMs, secondMs });
  }
  return out;
}

export async function runStage(
  job: StageJob,
  onProgress: (progress: StageProgress) => void = () => {},
  /** The image stage's UNet worker (stage-unet-preload.ts), its hinted session perhaps loading. */
  unetWorker?: HintedUnetRuntime,
): Promise<StageOutcome> {
  const entriesBefore = countCacheEntries(job.cacheDir);
  // performance.now() counts from this process's start, so this is Node's start-up and imports
  const opened = performance.now();
  // records when each session was created and first ran: the UNet's first run is the first step
  const recorder = job.stage === "startup" ? undefined : new RecordingRuntime(onnxruntimeNode());
  const pipeline: OpenedPipeline = await openPipeline(
    job.modelPath,
    engineOptions(job, undefined, recorder, recorder ? unetWorker : undefined),
  );
  const openMs = performance.now() - opened;
  try {
    if (job.stage === "startup") {
      // a second pipeline only for its decoder: graphs load on first use, so nothing else loads twice
      const taesd =
        job.taesdPath && job.options.decoder !== "taesd"
          ? await openPipeline(job.modelPath, engineOptions(job, "taesd"))
          : undefined;
      let startup: StartupTiming[];
      try {
        startup = await runStartup(pipeline.models, job, taesd?.models);
      } finally {
        await taesd?.close();
      }
      const total = (pick: (s: StartupTiming) => number): RunTiming => ({
        ms: startup.reduce((sum, s) => sum + pick(s), 0),
        networks: Object.fromEntries(startup.map((s) => [s.network, { ms: pick(s), calls: 1 }])),
      });
      onProgress({ run: 0, runs: 0, ms: total((s) => s.firstMs).ms });
      return {
        openMs,
        first: total((s) => s.firstMs),
        runs: [total((s) => s.secondMs)],
        builtGraphs: countCacheEntries(job.cacheDir) - entriesBefore,
        startup,
      };
    }
    const clock = new NetworkClock();
    const work = workload(job, { ...pipeline, models: timedModels(pipeline.models, clock) });
    const timed = async (): Promise<RunTiming> => {
      const ms = await timeIt(() => work.run());
      return { ms, networks: clock.take() };
    };
    const first = await timed();
    onProgress({ run: 0, runs: job.runs, ms: first.ms });
    const runs: RunTiming[] = [];
    for (let i = 1; i <= job.runs; i++) {
      const run = await timed();
      runs.push(run);
      onProgress({ run: i, runs: job.runs, ms: run.ms });
    }
    const unetSession = recorder
      ?.sessions()
      .find((s) => cacheEntryKind(s.model) === "unet" && s.firstRunAt !== undefined);
    unetWorker?.remember();
    const image = work.lastPng?.();
    if (image && job.imageOut) writeFileSync(job.imageOut, image);
    return {
      openStartMs: opened,
      openMs,
      firstUnetEndMs: clock.firstEndMs("unet"),
      firstUnetRunAtMs: unetSession?.firstRunAt,
      unetThread: unetSession?.thread,
      ...(unetWorker ? { unetPreloaded: unetWorker.runtime.preloaded().some((p) => p.taken) } : {}),
      first,
      runs,
      builtGraphs: countCacheEntries(job.cacheDir) - entriesBefore,
      imagePath: image && job.imageOut ? job.imageOut : undefined,
    };
  } finally {
    await pipeline.close();
  }
}
