/**
 * One stage in its own process: the bench forks stage-process with the job, relays its progress,
 * samples its resident memory, and measures how busy the rest of the machine was meanwhile.
 */
import { fork } from "node:child_process";
import os from "node:os";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { machineBusyMs, otherCpuShare, processCpuMs } from "./cpu-share.js";
import { RssSampler } from "./rss-sampler.js";
import type { StageJob, StageMessage, StageOutcome, StageProgress } from "./stage-job.js";

/** stage-process next to this module, as .ts under tsx and .js when compiled. */
function stageProcessPath(): string {
  const self = fileURLToPath(import.meta.url);
  return join(self, "..", `stage-process${extname(self)}`);
}

/** Runs one stage job in its own process, sampling its memory and the machine's other load meanwhile. */
export async function runStageProcess(
  job: StageJob,
  onProgress: (p: StageProgress) => void,
): Promise<{
  outcome: StageOutcome;
  sampledPeak?: number;
  samples: number;
  processMs: number;
  otherCpuShare?: number;
}> {
  const started = performance.now();
  const busyBefore = machineBusyMs();
  const ownBefore = processCpuMs();
  const child = fork(stageProcessPath(), [], {
    env: { ...process.env, SDLITE_CACHE: job.cacheDir },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const sampler = child.pid === undefined ? undefined : new RssSampler(child.pid).start();
  try {
    const outcome = await new Promise<StageOutcome>((resolve, reject) => {
      let settled: StageOutcome | Error | undefined;
      child.on("message", (m: StageMessage) => {
        if (m.type === "progress") onProgress(m.progress);
        else if (m.type === "done") settled = m.outcome;
        else settled = new Error(`stage ${job.stage} failed: ${m.message}`);
      });
      child.on("error", reject);
      child.on("exit", (code, signal) => {
        if (settled instanceof Error) reject(settled);
        else if (settled) resolve(settled);
        else
          reject(
            new Error(
              `stage ${job.stage} process ended without a result (${signal ? `signal ${signal}` : `exit code ${code}`})`,
            ),
          );
      });
      child.send(job);
    });
    const rss = sampler?.stop();
    const wallMs = performance.now() - started;
    const ownMs = processCpuMs() - ownBefore + (outcome.cpuMs ?? 0);
    return {
      otherCpuShare:
        outcome.cpuMs === undefined
          ? undefined
          : otherCpuShare(machineBusyMs() - busyBefore, ownMs, wallMs, os.cpus().length),
      outcome,
      sampledPeak: rss?.peakBytes,
      samples: rss?.samples ?? 0,
      processMs: wallMs,
    };
  } finally {
    sampler?.stop();
    if (child.exitCode === null && child.signalCode === null) child.kill();
  }
}
