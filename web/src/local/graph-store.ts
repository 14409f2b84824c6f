/**
 * Where the in-tab engine keeps the ONNX graphs it built, so a second visit loads them instead of
 * building them again: OPFS (one file a graph, plus `index.json` with sizes and last use), or
 * IndexedDB in browsers without OPFS. Bounded: past `maxBytes` the least recently used graphs go.
 * "Clear cache" empties it.
 */
import type { GraphStore } from "./local-engine-api.js";
import { type GraphEntry, keysToEvict } from "./lru-eviction.js";
import {
  entryNames,
  fileIn,
  hasOpfs,
  opfsDirectory,
  readJsonIn,
  removeIn,
  safeName,
  writeFileIn,
} from "./opfs.js";

/** 8 GiB: an SD1.5's graphs with their fp16 weights are ~2 GB; a few models and sizes fit. */
export const DEFAULT_GRAPH_CACHE_BYTES = 8 * 1024 ** 3;

export type { GraphEntry };

/** A GraphStore that can say what it holds and be emptied (the page's cache line and button). */
export interface ManagedGraphStore extends GraphStore {
  readonly kind: "OPFS" | "IndexedDB";
  entries(): Promise<GraphEntry[]>;
  clear(): Promise<void>;
}

type Index = Record<string, GraphEntry>;

export class OpfsGraphStore implements ManagedGraphStore {
  readonly kind = "OPFS";
  /** Index updates one at a time: the engine may get and put several graphs at once. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: FileSystemDirectoryHandle,
    private readonly maxBytes = DEFAULT_GRAPH_CACHE_BYTES,
  ) {}

  static async open(maxBytes?: number): Promise<OpfsGraphStore> {
    return new OpfsGraphStore(await opfsDirectory("sdlite", "graphs"), maxBytes);
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async index(): Promise<Index> {
    return (await readJsonIn<Index>(this.dir, "index.json")) ?? {};
  }

  private saveIndex(index: Index): Promise<void> {
    return writeFileIn(this.dir, "index.json", JSON.stringify(index));
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.serial(async () => {
      const index = await this.index();
      const file = index[key] ? await fileIn(this.dir, safeName(key)) : undefined;
      if (!file || file.size !== index[key].bytes) return undefined;
      index[key].used = Date.now();
      await this.saveIndex(index);
      return new Uint8Array(await file.arrayBuffer());
    });
  }

  put(key: string, bytes: Uint8Array): Promise<void> {
    return this.serial(async () => {
      await writeFileIn(this.dir, safeName(key), bytes);
      const index = await this.index();
      index[key] = { key, bytes: bytes.length, used: Date.now() };
      for (const old of keysToEvict(Object.values(index), this.maxBytes)) {
        if (old === key) continue; // one graph larger than the limit is still kept until the next put
        await removeIn(this.dir, safeName(old));
        delete index[old];
      }
      await this.saveIndex(index);
    });
  }

  entries(): Promise<GraphEntry[]> {
    return this.serial(async () => Object.values(await this.index()));
  }

  clear(): Promise<void> {
    return this.serial(async () => {
      for (const name of await entryNames(this.dir)) await removeIn(this.dir, name);
    });
  }
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** The same store in IndexedDB: graph bytes in "graphs", sizes and last use in "meta". */
export class IndexedDbGraphStore implements ManagedGraphStore {
  readonly kind = "IndexedDB";

  private constructor(
    private readonly db: IDBDatabase,
    private readonly maxBytes: number,
  ) {}

  static open(maxBytes = DEFAULT_GRAPH_CACHE_BYTES): Promise<IndexedDbGraphStore> {
    return new Promise((resolve, reject) => {
      const r = indexedDB.open("sdlite-graphs", 1);
      r.onupgradeneeded = () => {
        r.result.createObjectStore("graphs");
        r.result.createObjectStore("meta", { keyPath: "key" });
      };
      r.onsuccess = () => resolve(new IndexedDbGraphStore(r.result, maxBytes));
      r.onerror = () => reject(r.error);
    });
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const tx = this.db.transaction(["graphs", "meta"], "readwrite");
    const bytes = (await request(tx.objectStore("graphs").get(key))) as Uint8Array | undefined;
    const meta = (await request(tx.objectStore("meta").get(key))) as GraphEntry | undefined;
    if (bytes && meta) tx.objectStore("meta").put({ ...meta, used: Date.now() });
    return bytes;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const tx = this.db.transaction(["graphs", "meta"], "readwrite");
    tx.objectStore("graphs").put(bytes, key);
    tx.objectStore("meta").put({ key, bytes: bytes.length, used: Date.now() } satisfies GraphEntry);
    const all = (await request(tx.objectStore("meta").getAll())) as GraphEntry[];
    for (const old of keysToEvict(all, this.maxBytes)) {
      if (old === key) continue;
      tx.objectStore("graphs").delete(old);
      tx.objectStore("meta").delete(old);
    }
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
  }

  async entries(): Promise<GraphEntry[]> {
    return (await request(this.db.transaction("meta").objectStore("meta").getAll())) as GraphEntry[];
  }

  async clear(): Promise<void> {
    const tx = this.db.transaction(["graphs", "meta"], "readwrite");
    tx.objectStore("graphs").clear();
    tx.objectStore("meta").clear();
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
  }
}

/** OPFS where the browser has it (and allows it: private windows may not), else IndexedDB. */
export async function openGraphStore(maxBytes?: number): Promise<ManagedGraphStore> {
  if (hasOpfs()) {
    try {
      return await OpfsGraphStore.open(maxBytes);
    } catch {
      // fall through to IndexedDB
    }
  }
  return IndexedDbGraphStore.open(maxBytes);
}

/**
 * Asks the browser not to evict this site's storage under pressure (a 2 GB model and its graphs
 * should not vanish); returns whether it agreed.
 */
export async function requestPersistence(): Promise<boolean> {
  try {
    if (await navigator.storage?.persisted?.()) return true;
    return (await navigator.storage?.persist?.()) ?? false;
  } catch {
    return false;
  }
}
