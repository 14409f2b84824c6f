/**
 * From a graph builder to a running session: through the disk cache when a key is given (the
 * session then loads by path, and the next process skips the build), else serialised in memory.
 * With the cache, the runtime's optimised model is kept too (optimized-model-cache.ts) where the
 * runtime can save one, so a later process also skips the graph optimisation.
 */
import { dirname } from "node:path";
import type { GraphCache } from "../cache/graph-cache.js";
import { OptimizedModelCache, optimizedModelKey } from "../cache/optimized-model-cache.js";
import type { GraphBuilder } from "../graph/graph-builder.js";
import { type SerializeOptions, serializeModel } from "../graph/onnx-model.js";
import type { Runtime, Session, SessionOptions } from "../runtime/runtime.js";

export interface GraphSessionOptions {
  /** Store/reuse the built graph under this key (see graphCacheKey). */
  readonly cache?: { readonly cache: GraphCache; readonly key: string };
  readonly session?: SessionOptions;
  readonly serialize?: SerializeOptions;
  /**
   * Keep and reuse the runtime's optimised model beside the cached graph; default true unless
   * the environment has SDLITE_OPTIMIZED_MODELS=0 (to save the disk space it takes).
   */
  readonly saveOptimized?: boolean;
}

/**
 * Whether createGraphSession with these options would find its graph stored (the runtime's
 * optimised model where one is kept, else the built graph), so creating the session builds
 * nothing in this thread. Reports nothing: a damaged entry is reported when the session is created.
 */
export function graphSessionStored(runtime: Runtime, options: GraphSessionOptions): boolean {
  if (!options.cache) return false;
  const { cache, key } = options.cache;
  const saveOptimized = options.saveOptimized ?? process.env.SDLITE_OPTIMIZED_MODELS !== "0";
  const fingerprint = saveOptimized ? runtime.optimizedModelFingerprint?.(options.session) : undefined;
  if (fingerprint !== undefined && runtime.optimizedModelLoadOptions) {
    const optimized = new OptimizedModelCache(dirname(cache.dir));
    if (optimized.check(optimizedModelKey(key, fingerprint)).state === "ok") return true;
    // no optimised model yet: the session would optimise and save one, which a worker may do too
  }
  return cache.check(key).state === "ok";
}

export async function createGraphSession(
  runtime: Runtime,
  build: () => GraphBuilder,
  options: GraphSessionOptions = {},
): Promise<Session> {
  if (!options.cache) {
    return runtime.createSession(serializeModel(build(), options.serialize), options.session);
  }
  const { cache, key } = options.cache;
  const saveOptimized = options.saveOptimized ?? process.env.SDLITE_OPTIMIZED_MODELS !== "0";
  const fingerprint = saveOptimized ? runtime.optimizedModelFingerprint?.(options.session) : undefined;
  const plainSession = () => {
    const { modelPath } = cache.getOrBuild(key, build, options.serialize);
    return runtime.createSession({ path: modelPath }, options.session);
  };
  if (fingerprint === undefined || !runtime.optimizedModelLoadOptions) return plainSession();

  // the optimised models live beside the graphs, under the same cache root
  const optimized = new OptimizedModelCache(dirname(cache.dir), cache.listener);
  const optimizedKey = optimizedModelKey(key, fingerprint);
  const found = optimized.lookup(optimizedKey);
  if (found) {
    try {
      return await runtime.createSession({ path: found }, runtime.optimizedModelLoadOptions(options.session));
    } catch (err) {
      // intact as written but unloadable (e.g. damage the samples missed): saved again below
      const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
      optimized.remove(optimizedKey, `the engine could not load it: ${message}`);
    }
  }
  const { modelPath } = cache.getOrBuild(key, build, options.serialize);
  const saved = await optimized.save(optimizedKey, { graphKey: key, fingerprint }, (optimizedModelFilePath) =>
    runtime.createSession(
      { path: modelPath },
      optimizedModelFilePath ? { ...options.session, optimizedModelFilePath } : options.session,
    ),
  );
  return saved.value;
}
