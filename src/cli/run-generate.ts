/**
 * What `sdlite generate` does, in order: build the GenerationJob from the options (generate-job.ts:
 * checks before any download, model and TAESD resolved), run it, and write each PNG as soon as its
 * image is decoded (complete or not at all), so Ctrl-C or SIGTERM during a long --batch-count keeps
 * every finished image. Progress goes to stderr; stdout gets the files written (or one JSON object).
 */

import { describeRepair } from "../cache/cache-entries.js";
import { GraphCache } from "../cache/graph-cache.js";
import { outputTarget, writeOutputImage } from "../image/output-target.js";
import type { GenerationJob } from "../pipeline/generation-job.js";
import { runGenerationJob } from "../pipeline/run-generation-job.js";
import { onnxruntimeNode } from "../runtime/onnxruntime-node.js";
import { RecordingRuntime } from "../runtime/recording-runtime.js";
import { unetWorkerWanted } from "../runtime/unet-worker-setting.js";
import { WorkerThreadRuntime } from "../runtime/worker-thread-runtime.js";
import { ModelLoadError } from "../weights/model-load-error.js";
import type { GenerateOptions } from "./commands/generate.js";
import { cpuAfterFailure, describeDevice, deviceDoc } from "./device-choice.js";
import { formatDuration, formatRate } from "./format.js";
import { buildCliJob, type CliJob } from "./generate-job.js";
import { createProgressReporter } from "./progress-reporter.js";
import { startupBreakdown } from "./startup-breakdown.js";
import type { UnetPreload } from "./unet-preload.js";

/** The loader names its load option and the sidecar file; on the command line the option is --config. */
function withConfigHint(err: unknown, o: GenerateOptions): unknown {
  if (
    err instanceof ModelLoadError &&
    err.reason === "unsupported-config" &&
    !o.config &&
    /sdlite\.json/.test(err.message)
  ) {
    return new ModelLoadError(
      err.reason,
      err.path,
      `${err.message.slice(err.path.length + 2)} (here: --config FILE.json)`,
    );
  }
  return err;
}

/** --json's `engine`: what ran on the speed side. */
function engineDoc(o: GenerateOptions, { job, taesd }: CliJob) {
  return {
    ...(o.fast ? { preset: "fast" } : {}),
    decoder: job.engine.speed?.decoder ?? "vae",
    ...(taesd ? { taesd: { path: taesd.path, ...(taesd.repo ? { repo: taesd.repo } : {}) } } : {}),
    deepCacheInterval: job.engine.speed?.deepCacheInterval ?? 1,
    unetQuantization: job.engine.speed?.unetQuantization ?? "none",
    // opt-in, never set by --fast: listed only when asked for
    ...(job.engine.speed?.vaeQuantization ? { vaeQuantization: job.engine.speed.vaeQuantization } : {}),
    ...(job.engine.speed?.attentionQuantization
      ? { attentionQuantization: job.engine.speed.attentionQuantization }
      : {}),
    ...(job.engine.speed?.tomeRatio ? { tomeRatio: job.engine.speed.tomeRatio } : {}),
    ...(job.engine.speed?.todoFactor
      ? { todoFactor: job.engine.speed.todoFactor, todoMaxDepth: job.engine.speed.todoMaxDepth ?? 1 }
      : {}),
    ...(job.engine.speed?.textEncoderQuantization
      ? { textEncoderQuantization: job.engine.speed.textEncoderQuantization }
      : {}),
    ...(job.engine.speed?.taesdQuantization ? { taesdQuantization: job.engine.speed.taesdQuantization } : {}),
  };
}

export async function runGenerate(prompt: string, o: GenerateOptions, preload?: UnetPreload): Promise<void> {
  const started = performance.now();
  let stepsPerSecond = 0;
  const reporter = createProgressReporter(process.stderr, () => stepsPerSecond);
  const abort = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    reporter.note(
      `${signal === "SIGINT" ? "interrupted" : signal}: stopping after the current step (again to quit at once)`,
    );
    abort.abort();
    process.once(signal, () => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  const onSigint = () => stop("SIGINT");
  const onSigterm = () => stop("SIGTERM");
  process.once("SIGINT", onSigint);
  process.once("SIGTERM", onSigterm);
  const target = outputTarget(o.output);
  const written: { file: string; seed: number; infotext: string }[] = [];
  try {
    const built = await buildCliJob(prompt, o, reporter, abort.signal, started);
    reporter.phase(`loading ${built.resolved.name}`);
    // records each session's creation and runs for --json's start-up breakdown
    const runtime = new RecordingRuntime(onnxruntimeNode());
    // the UNet loads in a worker thread while this one encodes the prompt (SDLITE_UNET_WORKER=0: here),
    // or earlier: a preloaded UNet (unet-preload.ts) is taken over when it is the one asked for
    const workerRuntime =
      preload?.runtime ?? (unetWorkerWanted() ? new WorkerThreadRuntime(onnxruntimeNode()) : undefined);
    const unetRuntime = workerRuntime ? runtime.alongside(workerRuntime) : undefined;
    const run = (job: GenerationJob) =>
      runGenerationJob(job, {
        signal: abort.signal,
        local: {
          runtime,
          unetRuntime,
          graphCache: new GraphCache(undefined, { onRepair: (r) => reporter.note(describeRepair(r)) }),
        },
        onOpened: ({ warnings }) => {
          for (const w of warnings) reporter.note(`warning: ${w}`);
        },
        onProgress: (p) => {
          stepsPerSecond = p.stepsPerSecond;
          reporter.generation(p);
        },
        // each image is written as it is made and not kept: any --batch-count runs in constant memory
        keepImages: false,
        onImage: async ({ png, seed, infotext }) => {
          const file = await writeOutputImage(target, seed, new Uint8Array(Buffer.from(png, "base64")));
          written.push({ file, seed, infotext });
          if (!o.json) process.stdout.write(`saved ${file} (seed ${seed})\n`);
        },
      });
    let device = built.device;
    const result = await run(built.job)
      .catch(async (err: unknown) => {
        // --device auto: a GPU that fails mid-run (an op, memory, a lost device) hands over to the CPU
        // (only before the first image is saved: a rerun would make the saved ones again)
        const onCpu =
          device && !abort.signal.aborted && written.length === 0 ? cpuAfterFailure(device, err) : undefined;
        if (!onCpu) throw err;
        device = onCpu;
        reporter.note(describeDevice(onCpu));
        const { job } = built;
        const runtime = { ...job.engine.runtime, executionProviders: onCpu.executionProviders };
        return run({ ...job, engine: { ...job.engine, runtime } });
      })
      .catch((err: unknown) => {
        throw withConfigHint(err, o);
      });
    reporter.finish();
    // stopped between two iterations: the job ended early without an error
    if (abort.signal.aborted) throw new Error("interrupted");
    preload?.remember();

    const { timings } = result;
    const ms = (t: number) => Math.round(t * 10) / 10;
    if (o.json) {
      const { resolved } = built;
      const doc = {
        files: written.map((w) => w.file),
        seeds: written.map((w) => w.seed),
        infotexts: written.map((w) => w.infotext),
        model: {
          name: resolved.name,
          path: resolved.path,
          ...(resolved.repo ? { repo: resolved.repo } : {}),
        },
        engine: engineDoc(o, built),
        ...(device ? { device: deviceDoc(device) } : {}),
        timings: {
          resolveModelMs: ms(built.resolvedAt),
          loadMs: ms(timings.loadMs),
          generateMs: ms(timings.generateMs),
          totalMs: ms(performance.now() - started),
          stagesMs: Object.fromEntries(Object.entries(timings.stagesMs).map(([k, v]) => [k, ms(v)])),
          denoiseSteps: timings.denoiseSteps,
          stepsPerSecond: Math.round(timings.stepsPerSecond * 1000) / 1000,
          startup: startupBreakdown({
            runStartedAt: started,
            resolveModelMs: built.resolvedAt,
            openPipelineMs: timings.loadMs,
            sessions: runtime.sessions(),
            preloads: workerRuntime?.preloaded(),
          }),
        },
      };
      process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    } else {
      reporter.note(
        `${written.length} image(s) in ${formatDuration(timings.generateMs)} (${formatRate(timings.stepsPerSecond)}; model loaded in ${formatDuration(timings.loadMs)})`,
      );
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
    // Ctrl-C: whatever was cut short (a download resumes next time) ends here, as shells expect;
    // the images finished before it are written already
    reporter.finish();
    const saved = written.length === 1 ? "1 image was saved" : `${written.length} images were saved`;
    process.stderr.write(
      `sdlite: interrupted; ${saved}${written.length > 0 ? ` (last: ${written.at(-1)?.file})` : ""}\n`,
    );
    process.exitCode = 130;
  } finally {
    reporter.finish();
    process.removeListener("SIGINT", onSigint);
    process.removeListener("SIGTERM", onSigterm);
  }
}
