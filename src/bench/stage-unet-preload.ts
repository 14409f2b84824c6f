/**
 * The image stage of a low-memory set runs as `sdlite generate --fast` does, preload included: the
 * UNet loads in a worker thread (unless SDLITE_UNET_WORKER=0), and the session the same set's last
 * stage process asked for (a hint in the bench's cache, `<cache>/hints`) starts loading as soon as the
 * stage process has its job, before it imports the pipeline, as `generate` does before importing its
 * own. So the stage's "start to the first step" is a second `generate`'s. Any other set runs as
 * `sdlite serve` does, in one thread: no worker, no preload.
 */
import { statSync } from "node:fs";
import { SessionHints } from "../cache/session-hints.js";
import { type HintedUnetRuntime, startHintedUnetRuntime } from "../engine/hinted-unet-runtime.js";
import { canonicalJson } from "../runtime/canonical-json.js";
import { unetWorkerWanted } from "../runtime/unet-worker-setting.js";
import { engineOptionsFromSet } from "./option-set.js";
import type { StageJob } from "./stage-job.js";

/** Whether this stage loads the UNet in a worker thread, as `generate --fast` does. */
export function stageUsesUnetWorker(job: StageJob): boolean {
  return (
    job.stage === "image" &&
    engineOptionsFromSet(job.options).memory?.lowMemory === true &&
    unetWorkerWanted()
  );
}

/** The hint's key: what shapes the stage's UNet session (model file, option set, threads). */
export function stageUnetHintKey(job: StageJob): string | undefined {
  try {
    const st = statSync(job.modelPath);
    const model = { path: job.modelPath, size: st.size, mtimeMs: Math.floor(st.mtimeMs) };
    return SessionHints.key(
      canonicalJson({ bench: "image", model, options: job.options, threads: job.threads }),
    );
  } catch {
    return undefined; // no model file: no hint, the stage's own error comes later
  }
}

/** The stage's UNet runtime with its hinted session loading, or undefined when the stage uses none. */
export function startStageUnetPreload(job: StageJob): HintedUnetRuntime | undefined {
  if (!stageUsesUnetWorker(job)) return undefined;
  return startHintedUnetRuntime(stageUnetHintKey(job), new SessionHints(job.cacheDir));
}
