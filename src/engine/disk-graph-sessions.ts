/**
 * GraphSessions for Node: graphs through the on-disk cache (keyed by the weight files' paths, sizes
 * and mtimes), or built in memory every time without one.
 */
import { fileIdentity, type GraphCache, graphCacheKey } from "../cache/graph-cache.js";
import { createGraphSession, graphSessionStored } from "./graph-session.js";
import type { GraphRequest, GraphSessions } from "./graph-sessions.js";

export function diskGraphSessions(cache: GraphCache | undefined): GraphSessions {
  const keyed = (request: GraphRequest) =>
    cache && {
      cache,
      key: graphCacheKey({
        kind: request.kind,
        weights: request.weightFiles.map((f) => fileIdentity(f)),
        config: request.config,
        options: request.options,
      }),
    };
  return {
    create(request, runtime, session) {
      return createGraphSession(runtime, request.build, { cache: keyed(request), session });
    },
    stored(request, runtime, session) {
      return graphSessionStored(runtime, { cache: keyed(request), session });
    },
  };
}
