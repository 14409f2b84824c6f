/**
 * A fresh `sdlite generate` starts loading the UNet before it knows which UNet it needs: the session
 * its command line loaded last time (a hint in the cache, cache/session-hints.ts) starts in the UNet's
 * worker thread at once, while this thread imports the pipeline, resolves and opens the model and
 * creates the text encoder. The pipeline then asks the same runtime for its UNet as always; only when
 * it asks for exactly the hinted model file and options does it take the preloaded session over
 * (runtime/worker-thread-runtime.ts), so the images are the same whether the guess was right or not.
 * After a run, the UNet session it asked for becomes the hint.
 *
 * The hint's key is the command line minus what shapes no session (prompt, seed, steps, output, …),
 * with the model file's identity: a changed checkpoint, or other engine options, find no hint (or a
 * wrong one only costs the preload's CPU, ended when the pipeline asks for another).
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { SessionHints } from "../cache/session-hints.js";
import { type HintedUnetRuntime, startHintedUnetRuntime } from "../engine/hinted-unet-runtime.js";
import { canonicalJson } from "../runtime/canonical-json.js";
import { unetWorkerWanted } from "../runtime/unet-worker-setting.js";
import type { GenerateOptions } from "./commands/generate.js";

/** Options that change the images or the output but no session: left out of the hint's key. */
const NOT_IN_KEY: readonly (keyof GenerateOptions)[] = [
  "negative",
  "seed",
  "steps",
  "cfg",
  "batchCount",
  "output",
  "json",
  "hiresPrompt",
  "hiresNegative",
];

/** The model as given, with the file's identity when it is one (a changed checkpoint gets no hint). */
function modelIdentity(model: string | undefined, cwd: string): unknown {
  if (model === undefined) return null;
  const path = resolve(cwd, model);
  if (!existsSync(path)) return model; // a hub id
  const st = statSync(path);
  return { path, size: st.size, mtimeMs: Math.floor(st.mtimeMs) };
}

/** The hint's key for these options: everything that may shape the UNet's session. */
export function unetHintKey(o: GenerateOptions, cwd: string = process.cwd()): string {
  const shaping = Object.fromEntries(
    Object.entries(o).filter(([k]) => !(NOT_IN_KEY as readonly string[]).includes(k) && k !== "model"),
  );
  // canonical: the options in any order, undefined ones left out, give one key
  return SessionHints.key(canonicalJson({ model: modelIdentity(o.model, cwd), cwd, options: shaping }));
}

/** The UNet's worker-thread runtime of one `generate`, and what it preloaded. */
export type UnetPreload = HintedUnetRuntime;

/**
 * The UNet's worker-thread runtime (none with SDLITE_UNET_WORKER=0), its hinted session already
 * loading. The caller ends it with `runtime.close()` whatever happens.
 */
export function startUnetPreload(
  o: GenerateOptions,
  hints: SessionHints = new SessionHints(),
): UnetPreload | undefined {
  if (!unetWorkerWanted()) return undefined;
  let key: string | undefined;
  try {
    key = unetHintKey(o);
  } catch {
    key = undefined; // the model's identity could not be read: no hint, the error comes later
  }
  return startHintedUnetRuntime(key, hints);
}

/**
 * Runs a command's work beside its UNet preload, then ends the preload. On an error the error goes
 * out at once: ending a preload still being created waits for its creation (about a second), and a
 * user whose command line was wrong should not wait for that; the process exits once it has ended.
 */
export async function runBesideUnetPreload(
  preload: Pick<UnetPreload, "runtime"> | undefined,
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (err) {
    // a preload nobody took (an error, Ctrl-C, another UNet asked for) ends in the background
    preload?.runtime.close().catch(() => {});
    throw err;
  }
  await preload?.runtime.close();
}
