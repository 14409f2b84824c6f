/**
 * The entry point of one stage process, forked by the bench: one stage per process, so each
 * stage's peak memory is its own and no stage inherits another's loaded graphs. Receives a
 * StageJob, answers with StageMessages over the IPC channel.
 */
import { processCpuMs } from "./cpu-share.js";
import { readProcMemory } from "./proc-status.js";
import type { StageJob, StageMessage } from "./stage-job.js";
import { startStageUnetPreload } from "./stage-unet-preload.js";

function send(message: StageMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

if (!process.send) {
  process.stderr.write("stage-process: run by `sdlite bench`, not directly\n");
  process.exit(2);
}

process.once("message", (job: StageJob) => {
  // the hinted UNet starts loading before the pipeline's modules are imported, as in `generate`
  const unetWorker = startStageUnetPreload(job);
  import("./stage-runners.js")
    .then(({ runStage }) =>
      runStage(job, (progress) => void send({ type: "progress", progress }), unetWorker),
    )
    .then(
      async (outcome) => {
        // a preload still being created must answer before the process ends (worker-thread-runtime.ts)
        await unetWorker?.runtime.close();
        await send({
          type: "done",
          outcome: { ...outcome, hwmBytes: readProcMemory("self")?.hwmBytes, cpuMs: processCpuMs() },
        });
        process.exit(0);
      },
      async (err: unknown) => {
        await unetWorker?.runtime.close().catch(() => {});
        await send({
          type: "failed",
          message: err instanceof Error ? (err.stack ?? err.message) : String(err),
        });
        process.exit(1);
      },
    );
});
