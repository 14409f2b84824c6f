/**
 * GraphSessions for the browser tab: each network's graph is built in the page by sdlite's graph
 * builder from the checkpoint Blob's tensors (read just for that network, then freed) and kept in
 * the caller's GraphStore (e.g. OPFS), under the key the Node graph cache would give it (cache/graph-
 * key.ts, with the Blob's name, size and lastModified standing for the file's path, size and mtime).
 *
 * A stored graph is `<key>/model.onnx` plus its external data chunks, and `<key>/entry.json` naming
 * them, written last: an entry without it is rebuilt.
 */
import { type GraphKeyParts, graphKeyName, graphKeyText } from "../../../src/cache/graph-key.js";
import type { GraphSessions } from "../../../src/engine/graph-sessions.js";
import { serializeModel } from "../../../src/graph/onnx-model.js";
import type { ExternalDataFile } from "../../../src/runtime/runtime.js";
import type { BlobSafetensors } from "./blob-safetensors.js";

export interface GraphStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array): Promise<void>;
}

interface StoredEntry {
  readonly model: string;
  readonly chunks: readonly string[];
}

/** The checkpoint's tensors a graph kind is built from (LDM prefixes); an unknown kind reads them all. */
function tensorsFor(kind: string): (name: string) => boolean {
  const prefix = kind.startsWith("text_encoder")
    ? "cond_stage_model."
    : kind.startsWith("unet")
      ? "model.diffusion_model."
      : kind.startsWith("vae")
        ? "first_stage_model."
        : "";
  return (name) => name.startsWith(prefix);
}

const NETWORK_NAMES: Record<string, string> = {
  text_encoder: "text encoder",
  unet: "UNet",
  unet_shallow: "UNet (DeepCache)",
  vae_decoder: "VAE decoder",
  vae_encoder: "VAE encoder",
  taesd_decoder: "TAESD decoder",
};

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export interface StoreGraphSessionsOptions {
  readonly checkpoint: Blob & { readonly name?: string; readonly lastModified?: number };
  readonly file: BlobSafetensors;
  readonly store?: GraphStore;
  /**
   * Weight files other than the checkpoint (TAESD), by the path their component names them with:
   * keyed by their own name, size and lastModified, and read whole by their owner (blob-taesd.ts).
   */
  readonly otherFiles?: ReadonlyMap<
    string,
    Blob & { readonly name?: string; readonly lastModified?: number }
  >;
  readonly onStatus?: (message: string, fraction?: number) => void;
  readonly signal?: AbortSignal;
}

/** The key of one graph, as cache/graph-key.ts makes it. */
export async function browserGraphKey(parts: GraphKeyParts): Promise<string> {
  return graphKeyName(parts.kind, await sha256Hex(graphKeyText(parts)));
}

export function storeGraphSessions(options: StoreGraphSessionsOptions): GraphSessions {
  const { checkpoint, file, store, onStatus, signal, otherFiles } = options;
  const identity = {
    path: checkpoint.name ?? file.path,
    size: checkpoint.size,
    mtimeMs: Math.floor(checkpoint.lastModified ?? 0),
  };
  const identityOf = (path: string) => {
    const other = otherFiles?.get(path);
    return other ? { path, size: other.size, mtimeMs: Math.floor(other.lastModified ?? 0) } : identity;
  };
  return {
    async create(request, runtime, sessionOptions) {
      const label = NETWORK_NAMES[request.kind] ?? request.kind;
      const key = await browserGraphKey({
        kind: request.kind,
        weights: request.weightFiles.map(identityOf),
        config: request.config,
        options: request.options,
      });
      const stored = store && (await readEntry(store, key));
      if (stored) {
        onStatus?.(`loading the ${label} from the graph store`);
        return runtime.createSession(stored, sessionOptions);
      }
      // a network of other files only (TAESD) reads nothing from the checkpoint
      const fromCheckpoint = request.weightFiles.some((path) => !otherFiles?.has(path));
      if (fromCheckpoint) {
        onStatus?.(`reading the ${label} weights`);
        await file.load(tensorsFor(request.kind), signal);
      }
      let model: ReturnType<typeof serializeModel>;
      try {
        onStatus?.(`building the ${label} graph`);
        model = serializeModel(request.build());
      } finally {
        if (fromCheckpoint) file.unload();
      }
      if (store) {
        onStatus?.(`storing the ${label} graph`);
        for (const chunk of model.externalData) await store.put(`${key}/${chunk.path}`, chunk.data);
        await store.put(`${key}/model.onnx`, model.bytes);
        const entry: StoredEntry = { model: "model.onnx", chunks: model.externalData.map((c) => c.path) };
        await store.put(`${key}/entry.json`, new TextEncoder().encode(JSON.stringify(entry)));
      }
      onStatus?.(`compiling the ${label}`);
      return runtime.createSession(model, sessionOptions);
    },
  };
}

async function readEntry(
  store: GraphStore,
  key: string,
): Promise<{ bytes: Uint8Array; externalData: ExternalDataFile[] } | undefined> {
  const manifest = await store.get(`${key}/entry.json`);
  if (!manifest) return undefined;
  let entry: StoredEntry;
  try {
    entry = JSON.parse(new TextDecoder().decode(manifest)) as StoredEntry;
  } catch {
    return undefined;
  }
  const bytes = await store.get(`${key}/${entry.model}`);
  if (!bytes) return undefined;
  const externalData: ExternalDataFile[] = [];
  for (const path of entry.chunks) {
    const data = await store.get(`${key}/${path}`);
    if (!data) return undefined;
    externalData.push({ path, data });
  }
  return { bytes, externalData };
}
