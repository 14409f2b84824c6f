/**
 * From a graph builder to a running session: through the disk cache when a key is given (the
 * session then loads by path, and the next process skips the build), else serialised in memory.
 */
import type { Runtime, Session, SessionOptions } from "../runtime/runtime.js";
import type { GraphBuilder } from "./graph-builder.js";
import type { GraphCache } from "./graph-cache.js";
import { type SerializeOptions, serializeModel } from "./onnx-model.js";

export interface GraphSessionOptions {
  /** Store/reuse the built graph under this key (see graphCacheKey). */
  readonly cache?: { readonly cache: GraphCache; readonly key: string };
  readonly session?: SessionOptions;
  readonly serialize?: SerializeOptions;
}

export async function createGraphSession(
  runtime: Runtime,
  build: () => GraphBuilder,
  options: GraphSessionOptions = {},
): Promise<Session> {
  if (options.cache) {
    const { modelPath } = options.cache.cache.getOrBuild(options.cache.key, build, options.serialize);
    return runtime.createSession({ path: modelPath }, options.session);
  }
  return runtime.createSession(serializeModel(build(), options.serialize), options.session);
}
