/**
 * The results of earlier generations, kept in the browser (IndexedDB: images are too large for
 * localStorage's few MB) so a reload or a closed tab loses nothing. Only this browser sees them;
 * the server keeps no images. The newest MAX_KEPT are kept; "Clear" empties it.
 */
import type { GalleryItem } from "./gallery.js";

const DB_NAME = "sdlite";
const STORE = "results";
/** ≈ 100 × 0.4 MB for 512x512 PNGs: well inside any browser's quota. */
export const MAX_KEPT = 100;

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export class ResultHistory {
  private db?: Promise<IDBDatabase>;

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const r = indexedDB.open(DB_NAME, 1);
      r.onupgradeneeded = () => r.result.createObjectStore(STORE, { autoIncrement: true });
      r.onsuccess = () => {
        const db = r.result;
        // another tab deletes or upgrades the database: let it, and open again when next needed
        db.onversionchange = () => {
          db.close();
          this.db = undefined;
        };
        resolve(db);
      };
      r.onerror = () => reject(r.error);
    });
    return this.db;
  }

  /** Every kept result, oldest first. */
  async load(): Promise<GalleryItem[]> {
    const db = await this.open();
    return request(db.transaction(STORE).objectStore(STORE).getAll() as IDBRequest<GalleryItem[]>);
  }

  /** Adds results (in the order they are shown, newest first) and drops the oldest beyond MAX_KEPT. */
  async add(items: readonly GalleryItem[]): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    for (const item of [...items].reverse()) store.add({ ...item });
    const keys = await request(store.getAllKeys());
    for (const key of keys.slice(0, Math.max(0, keys.length - MAX_KEPT))) store.delete(key);
    await done(tx);
  }

  async clear(): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).clear();
    await done(tx);
  }
}
