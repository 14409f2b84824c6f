/**
 * The UNet's worker-thread runtime of a fresh process, with the session a hint names (what the same
 * command line's UNet was last time, cache/session-hints.ts) already loading in it before the caller
 * has worked out which UNet it needs. The pipeline asks this runtime for its UNet as always; only a
 * request for exactly the hinted model file and options takes the preloaded session over
 * (runtime/worker-thread-runtime.ts), so a right guess saves the creation and a wrong one only costs
 * CPU. After the run, `remember()` records the session asked for as the next run's hint.
 * `sdlite generate` (cli/unet-preload.ts) and the bench's low-memory image stage both start one.
 */
import { existsSync } from "node:fs";
import { type SessionHint, SessionHints } from "../cache/session-hints.js";
import { onnxruntimeNode } from "../runtime/onnxruntime-node.js";
import type { SessionOptions } from "../runtime/runtime.js";
import { WorkerThreadRuntime } from "../runtime/worker-thread-runtime.js";

/** The UNet's worker-thread runtime, and what it preloaded. */
export interface HintedUnetRuntime {
  readonly runtime: WorkerThreadRuntime;
  /** The hint it started from; undefined when there was none. */
  readonly hint?: SessionHint;
  /** Records the UNet's session of this run as the next run's hint (when it changed). */
  remember(): void;
}

/**
 * A worker-thread runtime with the session `hints` holds under `key` loading; no key (the caller
 * could not tell what shapes the session): no preload and nothing remembered. The caller ends it
 * with `runtime.close()` whatever happens.
 */
export function startHintedUnetRuntime(
  key: string | undefined,
  hints: SessionHints = new SessionHints(),
): HintedUnetRuntime {
  const hint = key === undefined ? undefined : hints.read(key);
  const runtime = new WorkerThreadRuntime(onnxruntimeNode());
  // a hinted file that is gone is not worth a worker (the cache was cleared)
  if (hint && existsSync(hint.path))
    runtime.preload({ path: hint.path, options: hint.options as SessionOptions });
  return {
    runtime,
    ...(hint ? { hint } : {}),
    remember: () => {
      if (key === undefined) return;
      const [asked] = runtime.requests();
      // a session that saved its optimised model (a cold cache) is no hint: the next run loads that
      if (!asked || asked.options?.optimizedModelFilePath || !existsSync(asked.path)) return;
      const next: SessionHint = {
        path: asked.path,
        ...(asked.options ? { options: asked.options as Record<string, unknown> } : {}),
      };
      if (JSON.stringify(next) !== JSON.stringify(hint)) hints.write(key, next);
    },
  };
}
