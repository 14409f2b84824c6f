/**
 * A second start of the same single-file checkpoint, with every graph in the cache, reads only the
 * checkpoint's header (the architecture comes from its tensor shapes): no tensor data. Seen through
 * a spy on node:fs (openSync/readSync, synced into the ES module bindings), not through timing.
 * The same spy sees the first start read the weights, so the check can fail.
 */
import assert from "node:assert/strict";
import fs, { closeSync, mkdtempSync, openSync, readSync, rmSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import { GraphCache } from "../src/cache/graph-cache.js";
import { openPipeline } from "../src/engine/open-pipeline.js";
import { generate } from "../src/pipeline/generate.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { RecordingRuntime } from "../src/runtime/recording-runtime.js";
import { CHECKPOINT_PRESETS, writeRandomCheckpoint } from "../src/weights/random-checkpoint.js";

/** How often one file was opened, and the bytes readSync took from it at or past `from`. */
interface FileReads {
  opens: number;
  bytesPast: number;
}

/**
 * Counts opens of `path` and the bytes readSync takes from it at offsets from `from` on (a read
 * without an explicit position counts in full), while `body` runs.
 */
async function spyOnReads<T>(
  path: string,
  from: number,
  body: () => Promise<T>,
): Promise<{ result: T; reads: FileReads }> {
  const target = resolve(path);
  const reads: FileReads = { opens: 0, bytesPast: 0 };
  const ours = new Set<number>();
  const original = { openSync: fs.openSync, readSync: fs.readSync, closeSync: fs.closeSync };
  fs.openSync = ((p: fs.PathLike, ...rest: unknown[]) => {
    const fd = (original.openSync as (...a: unknown[]) => number)(p, ...rest);
    if (resolve(String(p)) === target) {
      reads.opens++;
      ours.add(fd);
    }
    return fd;
  }) as typeof fs.openSync;
  fs.readSync = ((fd: number, ...rest: unknown[]) => {
    const n = (original.readSync as (...a: unknown[]) => number)(fd, ...rest);
    if (ours.has(fd)) {
      const position = rest[3];
      const start = typeof position === "number" ? position : 0;
      reads.bytesPast += typeof position === "number" ? Math.max(0, start + n - Math.max(start, from)) : n;
    }
    return n;
  }) as typeof fs.readSync;
  fs.closeSync = ((fd: number) => {
    ours.delete(fd);
    original.closeSync(fd);
  }) as typeof fs.closeSync;
  syncBuiltinESMExports();
  try {
    return { result: await body(), reads };
  } finally {
    Object.assign(fs, original);
    syncBuiltinESMExports();
  }
}

/** The safetensors header's size: 8 bytes of length, then the JSON. */
function headerBytes(path: string): number {
  const fd = openSync(path, "r");
  try {
    const len = new Uint8Array(8);
    readSync(fd, len, 0, 8, 0);
    return 8 + Number(new DataView(len.buffer).getBigUint64(0, true));
  } finally {
    closeSync(fd);
  }
}

describe("a warm graph cache", () => {
  const dir = mkdtempSync(join(tmpdir(), "sdlite-warm-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const checkpoint = join(dir, "tiny.safetensors");
  writeRandomCheckpoint(checkpoint, { preset: CHECKPOINT_PRESETS.tiny, seed: 3 });
  const cacheRoot = join(dir, "cache");

  /** One fresh pipeline over the checkpoint, one image; what sessions it made. */
  async function start() {
    const runtime = new RecordingRuntime(onnxruntimeNode());
    const pipeline = await openPipeline(checkpoint, {
      runtime: { backend: runtime, threads: 1, cache: new GraphCache(cacheRoot) },
      memory: { lowMemory: true },
    });
    try {
      const [out] = await generate(pipeline.models, {
        prompt: "a cat",
        width: 64,
        height: 64,
        steps: 1,
        guidance: 1,
        seed: 1,
        sampler: "Euler",
      });
      return { image: out.image, sessions: runtime.sessions() };
    } finally {
      await pipeline.close();
    }
  }

  it("reads only the checkpoint's header when every graph is cached; the first start reads the weights", async () => {
    const header = headerBytes(checkpoint);
    const cold = await spyOnReads(checkpoint, header, start);
    assert.ok(cold.reads.bytesPast > 0, "the first start builds the graphs from the weights");
    const warm = await spyOnReads(checkpoint, header, start);
    assert.ok(warm.reads.opens > 0, "the architecture is read from the checkpoint's header");
    assert.equal(warm.reads.bytesPast, 0, "with every graph cached no tensor data is read");
    assert.deepEqual(warm.result.image.data, cold.result.image.data, "the same image from the cached graphs");
    // every session of the warm start came from the cache: a saved optimised model or a cached graph
    assert.deepEqual(
      warm.result.sessions.map((s) => s.model.includes(`${join(cacheRoot, "optimized")}/`)),
      warm.result.sessions.map(() => true),
      "the warm start loads the saved optimised models",
    );
  });
});
