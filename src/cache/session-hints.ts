/**
 * What a command line's worker-thread session was last time (`<cache root>/hints/<key>.json`: the
 * model path and session options the UNet's session was created with), so that the next process
 * with the same command line can start that session before it has worked out which it needs
 * (runtime/worker-thread-runtime.ts `preload`). A hint is only a guess: the session is used only
 * when the request made later is exactly the same, so a stale, wrong or damaged hint costs CPU,
 * never a wrong result. The key is the caller's (a hash of what shapes the request); reading and
 * writing never throw.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultCacheRoot } from "./cache-root.js";

/** Bump when a hint's layout changes. */
export const SESSION_HINT_VERSION = 1;

export interface SessionHint {
  /** The model file the session was created from. */
  readonly path: string;
  /** Its session options, as the runtime took them (JSON). */
  readonly options?: Record<string, unknown>;
}

export class SessionHints {
  readonly dir: string;

  constructor(root: string = defaultCacheRoot()) {
    this.dir = join(root, "hints");
  }

  /** A hint's file name: a hash of whatever the caller says shapes the request. */
  static key(text: string): string {
    return createHash("sha256").update(text).digest("hex").slice(0, 32);
  }

  read(key: string): SessionHint | undefined {
    try {
      const doc = JSON.parse(readFileSync(join(this.dir, `${key}.json`), "utf-8")) as unknown;
      if (typeof doc !== "object" || doc === null) return undefined;
      const { version, path, options } = doc as Record<string, unknown>;
      if (version !== SESSION_HINT_VERSION || typeof path !== "string") return undefined;
      if (options !== undefined && (typeof options !== "object" || options === null)) return undefined;
      return { path, ...(options ? { options: options as Record<string, unknown> } : {}) };
    } catch {
      return undefined; // none yet, or unreadable: no hint
    }
  }

  /** Writes the hint (atomically: a concurrent reader sees the old one or the new one). */
  write(key: string, hint: SessionHint): void {
    const file = join(this.dir, `${key}.json`);
    const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    try {
      mkdirSync(this.dir, { recursive: true });
      writeFileSync(tmp, JSON.stringify({ version: SESSION_HINT_VERSION, ...hint }));
      renameSync(tmp, file);
    } catch {
      rmSync(tmp, { force: true }); // a read-only cache keeps no hints
    }
  }
}
