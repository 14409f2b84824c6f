/**
 * The stable-diffusion.cpp baseline's own process, forked by the bench (with LD_LIBRARY_PATH set
 * for the CUDA stand-ins the prebuild links, see scripts/sdcpp-baseline): loads the checkpoint
 * once, then per run one txt2img call per CFG scale, and reports each call's logged stage times.
 */
import { createRequire } from "node:module";
import { processCpuMs } from "./cpu-share.js";
import { readProcMemory } from "./proc-status.js";
import type { SdcppCall, SdcppJob, SdcppMessage } from "./sdcpp-job.js";
import { parseSdcppLog, usesCpuBackend } from "./sdcpp-log.js";

/** The part of the addon's API the bench uses (index.d.ts of @lmagder/node-stable-diffusion-cpp). */
interface SdcppAddon {
  readonly SampleMethod: { readonly Euler: number };
  readonly Type: { readonly F16: number };
  getSystemInfo(): string;
  getNumPhysicalCores(): number;
  createContext(
    params: { model: string; numThreads: number; vaeDecodeOnly: boolean; weightType: number },
    log: (level: string, message: string) => void,
  ): Promise<SdcppContext>;
}

interface SdcppContext {
  txt2img(params: {
    prompt: string;
    cfgScale: number;
    width: number;
    height: number;
    sampleMethod: number;
    sampleSteps: number;
    seed: number;
  }): Promise<unknown[]>;
  dispose(): Promise<void>;
}

function send(message: SdcppMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

async function run(job: SdcppJob): Promise<void> {
  const addon = createRequire(import.meta.url)(job.addonPath) as SdcppAddon;
  const threads = job.threads ?? addon.getNumPhysicalCores();
  let lines: string[] = [];
  const allLines: string[] = [];
  const log = (_level: string, message: string) => {
    lines.push(message);
    allLines.push(message);
  };
  const loadStarted = performance.now();
  // the checkpoint's own F16 weights, as sdlite's default keeps them
  const context = await addon.createContext(
    { model: job.modelPath, numThreads: threads, vaeDecodeOnly: true, weightType: addon.Type.F16 },
    log,
  );
  const loadMs = performance.now() - loadStarted;
  const calls: SdcppCall[] = [];
  const total = job.runs * job.cfgScales.length;
  try {
    for (let run = 0; run < job.runs; run++) {
      for (const cfgScale of job.cfgScales) {
        lines = [];
        const started = performance.now();
        await context.txt2img({
          prompt: job.prompt,
          cfgScale,
          width: job.size,
          height: job.size,
          sampleMethod: addon.SampleMethod.Euler,
          sampleSteps: job.steps,
          seed: job.seed,
        });
        const call: SdcppCall = {
          cfgScale,
          totalMs: performance.now() - started,
          times: parseSdcppLog(lines),
        };
        calls.push(call);
        await send({ type: "progress", call, index: calls.length, of: total });
      }
    }
  } finally {
    await context.dispose();
  }
  await send({
    type: "done",
    outcome: {
      loadMs,
      threads,
      systemInfo: addon.getSystemInfo(),
      cpuBackend: usesCpuBackend(allLines),
      calls,
      hwmBytes: readProcMemory("self")?.hwmBytes,
      cpuMs: processCpuMs(),
    },
  });
}

if (!process.send) {
  process.stderr.write("sdcpp-process: run by `sdlite bench --baseline sdcpp`, not directly\n");
  process.exit(2);
}

process.once("message", (job: SdcppJob) => {
  run(job).then(
    () => process.exit(0),
    async (err: unknown) => {
      await send({ type: "failed", message: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    },
  );
});
