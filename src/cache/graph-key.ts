/**
 * A built graph's cache key: the network kind, the weights' identity, its config and build options,
 * hashed as canonical JSON. No I/O and no hashing here (the caller hashes graphKeyText with SHA-256:
 * node:crypto in graph-cache.ts, Web Crypto in the browser), so the Node cache and the browser's
 * graph store key graphs alike.
 */

import { canonicalJson } from "../runtime/canonical-json.js";

/**
 * Bump when the builders' output changes, so stale graphs are rebuilt rather than reused.
 * 2: the exact GELU written as onnxruntime's GeluFusion matches it (layers.ts `gelu`).
 */
export const GRAPH_FORMAT_VERSION = 2;

export interface FileIdentity {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface GraphKeyParts {
  /** "unet", "text_encoder", "vae_decoder", … */
  readonly kind: string;
  /** fileIdentity() of every weight file, or a content hash string. */
  readonly weights: readonly FileIdentity[] | string;
  /** The network config and any transform of the weights (LoRA list, dtype, …). */
  readonly config?: unknown;
  /** Build options (attention kind, …). */
  readonly options?: unknown;
}

/** What a graph's key hashes: the parts as canonical JSON, with GRAPH_FORMAT_VERSION. */
export function graphKeyText(parts: GraphKeyParts): string {
  return canonicalJson({ formatVersion: GRAPH_FORMAT_VERSION, ...parts });
}

/** The key from the kind and the SHA-256 (hex) of graphKeyText: `<kind>-<32 hex digits>`. */
export function graphKeyName(kind: string, sha256Hex: string): string {
  return `${kind.replace(/[^a-z0-9_-]/gi, "_")}-${sha256Hex.slice(0, 32)}`;
}

/**
 * The network kind of a session's model file inside a cache entry (`…/<kind>-<32 hex digits>/model.onnx`,
 * a built graph or its saved optimised model), e.g. "unet", "text_encoder"; "in-memory" for a model
 * given as bytes; otherwise the model's folder name.
 */
export function cacheEntryKind(modelPath: string): string {
  if (modelPath === "in-memory") return "in-memory";
  const parts = modelPath.split(/[\\/]/);
  return (parts[parts.length - 2] ?? "").replace(/-[0-9a-f]{32}$/, "");
}
