/** Where sdlite's caches live (its own file: a fresh start reads it before loading the graph code). */
import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** `$SDLITE_CACHE`, else `$XDG_CACHE_HOME/sdlite`, else `~/.cache/sdlite`. */
export function defaultCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SDLITE_CACHE) return resolve(env.SDLITE_CACHE);
  if (env.XDG_CACHE_HOME) return join(resolve(env.XDG_CACHE_HOME), "sdlite");
  return join(homedir(), ".cache", "sdlite");
}
