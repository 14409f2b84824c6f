/**
 * Where a network factory's built graph becomes a session: the seam between the factories and
 * graph storage. Node keeps built graphs in the on-disk cache (disk-graph-sessions.ts); the browser
 * engine keeps them in the page's graph store (web/src/local/). Both key a graph by the same parts
 * (cache/graph-key.ts).
 */
import type { GraphBuilder } from "../graph/graph-builder.js";
import type { Runtime, Session, SessionOptions } from "../runtime/runtime.js";

export interface GraphRequest {
  /** "unet", "text_encoder", "vae_decoder", … */
  readonly kind: string;
  /** The weights' files (paths in Node, the checkpoint's name in the browser), for the key. */
  readonly weightFiles: readonly string[];
  /** The network's config and any transform of its weights (LoRA fingerprint), for the key. */
  readonly config: unknown;
  /** Everything the build depends on besides weights and config, for the key. */
  readonly options: object;
  readonly build: () => GraphBuilder;
}

export interface GraphSessions {
  create(request: GraphRequest, runtime: Runtime, options: SessionOptions): Promise<Session>;
  /**
   * Whether `create` would find this graph already built (nothing to build in the calling
   * thread). Absent: unknown, taken as no.
   */
  stored?(request: GraphRequest, runtime: Runtime, options: SessionOptions): boolean;
}
