/**
 * Cache entries are checked by content, not by size: a changed file (its stamp moved) is hashed in
 * full, an unchanged one by its samples; `full` reads everything. Seen on hand-made entries, so
 * no engine runs here.
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  type CacheRepair,
  checkEntry,
  ENTRY_FILE,
  type EntryManifest,
  entryDigests,
  publishEntry,
  temporaryEntryDir,
} from "../src/cache/cache-entries.js";
import { cacheInventory, checkCacheEntry, clearCache } from "../src/cache/cache-inventory.js";
import { fileStamp, sampleOffsets } from "../src/cache/entry-digest.js";
import { GRAPH_FORMAT_VERSION, GraphCache } from "../src/cache/graph-cache.js";
import { SessionHints } from "../src/cache/session-hints.js";

const root = mkdtempSync(join(tmpdir(), "sdlite-cache-integrity-"));
after(() => rmSync(root, { recursive: true, force: true }));

const MiB = 1024 * 1024;

/** Deterministic bytes, so every entry holds the same content. */
function content(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 2654435761) >>> 24;
  return b;
}

/** An entry `key` under `dir` with a small model file and a 4 MiB weights file. */
function makeEntry(dir: string, key: string, formatVersion = 1): string {
  const tmp = temporaryEntryDir(dir, key);
  mkdirSync(tmp);
  writeFileSync(join(tmp, "model.onnx"), content(1000));
  writeFileSync(join(tmp, "weights.bin"), content(4 * MiB));
  const files = { "model.onnx": 1000, "weights.bin": 4 * MiB };
  const manifest: EntryManifest = {
    formatVersion,
    key,
    modelFile: "model.onnx",
    files,
    digests: entryDigests(tmp, Object.keys(files)),
    createdAt: new Date().toISOString(),
  };
  writeFileSync(join(tmp, ENTRY_FILE), JSON.stringify(manifest));
  return publishEntry(dir, key, tmp, formatVersion).modelPath;
}

function flipByte(path: string, at: number): void {
  const bytes = readFileSync(path);
  bytes[at] ^= 0x10;
  writeFileSync(path, bytes);
}

function readManifest(entryDir: string): EntryManifest {
  return JSON.parse(readFileSync(join(entryDir, ENTRY_FILE), "utf-8"));
}

/** Pretends the file was never written since the manifest (what bit rot on a disk looks like). */
function restamp(entryDir: string, file: string): void {
  const manifest = readManifest(entryDir);
  const digests = {
    ...manifest.digests,
    [file]: { ...manifest.digests![file], stamp: fileStamp(join(entryDir, file)) },
  };
  writeFileSync(join(entryDir, ENTRY_FILE), JSON.stringify({ ...manifest, digests }));
}

describe("cache entry content checks", () => {
  it("samples 16 blocks of 64 KiB from the first to the last byte, or the whole of a small file", () => {
    assert.deepEqual(sampleOffsets(MiB), [0]);
    const offsets = sampleOffsets(100 * MiB);
    assert.equal(offsets.length, 16);
    assert.equal(offsets[0], 0);
    assert.equal(offsets[15], 100 * MiB - 65536);
  });

  it("a written entry passes; a byte flipped anywhere by a write is found by the full hash its new stamp forces", () => {
    const dir = join(root, "flip");
    makeEntry(dir, "a");
    assert.equal(checkEntry(dir, "a", 1).state, "ok");
    // 100 bytes past a sampled block: only the full hash sees it
    const weights = join(dir, "a", "weights.bin");
    const unsampled = sampleOffsets(4 * MiB)[3] + 65536 + 100;
    flipByte(weights, unsampled);
    const found = checkEntry(dir, "a", 1);
    assert.deepEqual(found, { state: "damaged", reason: "weights.bin: content differs from its SHA-256" });
  });

  it("damage that leaves the stamp alone is found by the samples when it hits one, and always by a full check", () => {
    const dir = join(root, "rot");
    makeEntry(dir, "a");
    const weights = join(dir, "a", "weights.bin");
    flipByte(weights, sampleOffsets(4 * MiB)[5] + 7);
    restamp(join(dir, "a"), "weights.bin");
    assert.deepEqual(checkEntry(dir, "a", 1), {
      state: "damaged",
      reason: "weights.bin: sampled bytes differ from its digest",
    });

    makeEntry(join(root, "rot2"), "b");
    const other = join(root, "rot2", "b", "weights.bin");
    flipByte(other, sampleOffsets(4 * MiB)[5] + 65536 + 7);
    restamp(join(root, "rot2", "b"), "weights.bin");
    assert.equal(checkEntry(join(root, "rot2"), "b", 1).state, "ok", "missed by the samples");
    assert.equal(checkEntry(join(root, "rot2"), "b", 1, "full").state, "damaged", "found by the full check");
  });

  it("an intact entry copied elsewhere is hashed in full once and its new stamps recorded", () => {
    const dir = join(root, "copy");
    makeEntry(dir, "a");
    const copy = join(root, "copied");
    cpSync(dir, copy, { recursive: true });
    const before = readManifest(join(copy, "a")).digests!["weights.bin"].stamp;
    assert.notEqual(before, fileStamp(join(copy, "a", "weights.bin")), "a copy has other stamps");
    assert.equal(checkEntry(copy, "a", 1).state, "ok");
    assert.equal(
      readManifest(join(copy, "a")).digests!["weights.bin"].stamp,
      fileStamp(join(copy, "a", "weights.bin")),
      "recorded, so the next check only samples",
    );
  });

  it("sizes, missing files and manifests: damaged with a reason; no digests or another format: outdated", () => {
    const dir = join(root, "states");
    assert.deepEqual(checkEntry(dir, "none", 1), { state: "absent" });
    makeEntry(dir, "a");
    writeFileSync(join(dir, "a", "weights.bin"), "short");
    assert.deepEqual(checkEntry(dir, "a", 1), {
      state: "damaged",
      reason: `weights.bin has 5 bytes, not ${4 * MiB}`,
    });
    makeEntry(dir, "b");
    rmSync(join(dir, "b", "model.onnx"));
    assert.deepEqual(checkEntry(dir, "b", 1), {
      state: "damaged",
      reason: "model.onnx is missing or unreadable",
    });
    makeEntry(dir, "c");
    writeFileSync(join(dir, "c", ENTRY_FILE), "{");
    assert.deepEqual(checkEntry(dir, "c", 1), { state: "damaged", reason: "entry.json is not valid JSON" });
    makeEntry(dir, "d");
    const { digests: _, ...legacy } = readManifest(join(dir, "d"));
    writeFileSync(join(dir, "d", ENTRY_FILE), JSON.stringify(legacy));
    assert.deepEqual(checkEntry(dir, "d", 1), { state: "outdated" });
    assert.deepEqual(checkEntry(dir, "a", 2), { state: "outdated" });
  });

  it("the graph cache rebuilds a damaged entry with one repair report, an outdated one without", () => {
    const repairs: CacheRepair[] = [];
    const cache = new GraphCache(join(root, "graph-root"), { onRepair: (r) => repairs.push(r) });
    makeEntry(cache.dir, "k", GRAPH_FORMAT_VERSION);
    flipByte(join(cache.dir, "k", "weights.bin"), 12345);
    let built = 0;
    const build = () => {
      built++;
      throw new Error("built");
    };
    assert.throws(() => cache.getOrBuild("k", build), /built/);
    assert.equal(built, 1, "rebuilt rather than used");
    assert.deepEqual(repairs, [
      { cache: "graphs", key: "k", reason: "weights.bin: content differs from its SHA-256" },
    ]);
    const { digests: _, ...legacy } = readManifest(join(cache.dir, "k"));
    writeFileSync(join(cache.dir, "k", ENTRY_FILE), JSON.stringify(legacy));
    assert.throws(() => cache.getOrBuild("k", build), /built/);
    assert.equal(repairs.length, 1, "no note for an entry from before content digests");
  });

  it("inventory lists entries and temporaries; clear removes them and hashes.json, keeping a young temporary", () => {
    const cacheRoot = join(root, "inventory");
    makeEntry(join(cacheRoot, "graphs"), "unet-1", GRAPH_FORMAT_VERSION);
    makeEntry(join(cacheRoot, "optimized"), "unet-2");
    mkdirSync(join(cacheRoot, "graphs", "vae-3.tmp-1-x"));
    writeFileSync(join(cacheRoot, "hashes.json"), "{}");
    writeFileSync(join(cacheRoot, "unrelated.txt"), "not sdlite's");
    const inventory = cacheInventory(cacheRoot);
    assert.deepEqual(
      inventory.entries.map((e) => [e.cache, e.key, e.bytes]),
      [
        [
          "graphs",
          "unet-1",
          1000 + 4 * MiB + readFileSync(join(cacheRoot, "graphs", "unet-1", ENTRY_FILE)).length,
        ],
        [
          "optimized",
          "unet-2",
          1000 + 4 * MiB + readFileSync(join(cacheRoot, "optimized", "unet-2", ENTRY_FILE)).length,
        ],
      ],
    );
    assert.equal(checkCacheEntry(cacheRoot, inventory.entries[0]).state, "ok");
    assert.equal(inventory.temporary.length, 1);
    assert.ok(inventory.hashFile);
    const hints = new SessionHints(cacheRoot);
    hints.write(SessionHints.key("a command line"), {
      path: join(cacheRoot, "optimized", "unet-2", "model.onnx"),
    });
    const cleared = clearCache(cacheRoot);
    assert.equal(cleared.entries, 2);
    assert.equal(cleared.keptTemporary, 1);
    const after = cacheInventory(cacheRoot);
    assert.deepEqual([after.entries, after.hashFile], [[], undefined]);
    assert.equal(existsSync(hints.dir), false, "the start-up hints named entries that are gone");
    assert.equal(
      readFileSync(join(cacheRoot, "unrelated.txt"), "utf-8"),
      "not sdlite's",
      "only sdlite's files go",
    );
  });
});
