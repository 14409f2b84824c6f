import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { defaultSha256CachePath, Sha256Cache } from "../src/cache/sha256-cache.js";
import { sha256File } from "../src/image/sha256-file.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-sha256-cache-"));
after(() => rmSync(work, { recursive: true, force: true }));

let counter = 0;
/** A fresh folder with a cache path (not created yet) and a data file. */
function setup(contents = "checkpoint bytes") {
  const dir = join(work, String(counter++));
  mkdirSync(dir);
  const data = join(dir, "model.safetensors");
  writeFileSync(data, contents);
  const cacheFile = join(dir, "cache", "hashes.json");
  const reads: string[] = [];
  const cache = () =>
    new Sha256Cache(cacheFile, {
      hashFile: (path) => {
        reads.push(path);
        return sha256File(path);
      },
    });
  return { dir, data, cacheFile, reads, cache };
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("Sha256Cache", () => {
  it("lives in the sdlite cache folder", () => {
    assert.equal(defaultSha256CachePath({ SDLITE_CACHE: "/x/y" }), "/x/y/hashes.json");
  });

  it("hashes a file once, and a new cache object (a later run) reads it from the file", async () => {
    const { data, cacheFile, reads, cache } = setup();
    assert.equal(await cache().sha256(data), sha256("checkpoint bytes"));
    assert.equal(await cache().sha256(data), sha256("checkpoint bytes"));
    assert.equal(reads.length, 1, "the data file was read once");
    const stored = JSON.parse(readFileSync(cacheFile, "utf-8"));
    assert.equal(stored.sha256[data].sha256, sha256("checkpoint bytes"), "keyed by the absolute path");
    assert.deepEqual(readdirSync(join(cacheFile, "..")), ["hashes.json"], "no temp file left behind");
  });

  it("hashes again when the file's size or mtime changes", async () => {
    const { data, reads, cache } = setup("aaaa");
    await cache().sha256(data);
    writeFileSync(data, "bbbbbb"); // new size
    assert.equal(await cache().sha256(data), sha256("bbbbbb"));
    writeFileSync(data, "cccccc"); // same size …
    utimesSync(data, new Date(2001, 0, 1), new Date(2001, 0, 1)); // … other mtime
    assert.equal(await cache().sha256(data), sha256("cccccc"));
    assert.equal(reads.length, 3);
    assert.equal(await cache().sha256(data), sha256("cccccc"));
    assert.equal(reads.length, 3, "the last version is cached");
  });

  it("keeps the entries of other files when it adds one", async () => {
    const { dir, data, cacheFile, reads, cache } = setup();
    const other = join(dir, "other.ckpt");
    writeFileSync(other, "other");
    await cache().sha256(data);
    await cache().sha256(other);
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(cacheFile, "utf-8")).sha256).sort(), [data, other]);
    await cache().sha256(data);
    await cache().sha256(other);
    assert.equal(reads.length, 2);
  });

  it("ignores a corrupt cache file or entry, and replaces it with a valid one", async () => {
    for (const corrupt of [
      "{ not json",
      "null",
      JSON.stringify({ version: 99, sha256: {} }),
      JSON.stringify({ version: 1, sha256: [] }),
    ]) {
      const { data, cacheFile, reads, cache } = setup();
      mkdirSync(join(cacheFile, ".."));
      writeFileSync(cacheFile, corrupt);
      assert.equal(await cache().sha256(data), sha256("checkpoint bytes"), corrupt);
      assert.equal(JSON.parse(readFileSync(cacheFile, "utf-8")).version, 1, `${corrupt} replaced`);
      await cache().sha256(data);
      assert.equal(reads.length, 1, corrupt);
    }
    // an entry with a wrong digest shape is not trusted
    const { data, cacheFile, reads, cache } = setup();
    await cache().sha256(data);
    const stored = JSON.parse(readFileSync(cacheFile, "utf-8"));
    stored.sha256[data].sha256 = "not-a-digest";
    writeFileSync(cacheFile, JSON.stringify(stored));
    assert.equal(await cache().sha256(data), sha256("checkpoint bytes"));
    assert.equal(reads.length, 2);
  });

  it("still hashes when the cache cannot be written", async () => {
    const { dir, data, reads } = setup();
    const blocker = join(dir, "blocker");
    writeFileSync(blocker, "a file where the cache folder would be");
    const cache = new Sha256Cache(join(blocker, "hashes.json"), {
      hashFile: (p) => {
        reads.push(p);
        return sha256File(p);
      },
    });
    assert.equal(await cache.sha256(data), sha256("checkpoint bytes"));
    assert.equal(await cache.sha256(data), sha256("checkpoint bytes"));
    assert.equal(reads.length, 2, "nothing cached, no error");
    if (process.getuid?.() !== 0) {
      const readOnly = join(dir, "read-only");
      mkdirSync(readOnly);
      chmodSync(readOnly, 0o500);
      assert.equal(await new Sha256Cache(join(readOnly, "h.json")).sha256(data), sha256("checkpoint bytes"));
      assert.deepEqual(readdirSync(readOnly), []);
      chmodSync(readOnly, 0o700);
    }
  });

  it("stores nothing for a file that changed while it was read", async () => {
    const { data, cacheFile } = setup("first");
    const digest = await new Sha256Cache(cacheFile, {
      hashFile: async (path) => {
        const before = await sha256File(path);
        writeFileSync(path, "second, longer");
        return before;
      },
    }).sha256(data);
    assert.equal(digest, sha256("first"));
    assert.throws(() => readFileSync(cacheFile), /ENOENT/, "no cache entry written");
  });

  it("rejects for a missing file", async () => {
    const { dir, cache } = setup();
    await assert.rejects(cache().sha256(join(dir, "missing.safetensors")), /ENOENT/);
  });
});
