/**
 * GraphSessions for Node: graphs through the on-disk cache (keyed by the weight files' paths, sizes
 * and mtimes), or built in memory every time without one.
 */
import { fileIdentity, type GraphCache, graphCacheKey } from "../cache/graph-cache.js";
import { createGraphSession } from "./graph-session.js";
import type { GraphSessions } from "./graph-sessions.js";

export function diskGraphSessions(cache: GraphCache | undefined): GraphSessions {
  return {
    create(request, runtime, session) {
      const keyed = cache && {
        cache,
        key: graphCacheKey({
          kind: request.kind,
          weights: request.weightFiles.map((f) => fileIdentity(f)),
          config: request.config,
          options: request.options,
        }),
      };
      return createGraphSession(runtime, request.build, { cache: keyed, session });
    },
  };
}
