/**
 * The worker-thread runtime (each session in a worker thread of its own) against onnxruntime-node
 * in this thread: the same outputs bit for bit, the same errors, workers ended by release; and a
 * generation whose UNet loads in a worker (started as soon as the text encoder's session, when the
 * UNet's graph is stored) makes the same image as the UNet loaded here.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { GraphCache } from "../src/cache/graph-cache.js";
import { cacheEntryKind } from "../src/cache/graph-key.js";
import { openPipeline } from "../src/engine/open-pipeline.js";
import { generate } from "../src/pipeline/generate.js";
import type { GenerationRequest } from "../src/pipeline/request.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { RecordingRuntime, type SessionActivity } from "../src/runtime/recording-runtime.js";
import type { Session, TensorData } from "../src/runtime/runtime.js";
import { WorkerThreadRuntime } from "../src/runtime/worker-thread-runtime.js";
import { fixturePath } from "./helpers/fixtures.js";
import { mixedTypesModel } from "./helpers/mixed-types-model.js";

function mixedFeeds(n: number): Record<string, TensorData> {
  const ids = new Int32Array(n);
  const x = new Float32Array(n);
  const ids64 = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    ids[i] = (i * 7919) % 49408;
    x[i] = Math.sin(i * 0.37) * 3;
    ids64[i] = BigInt(i) * 2n ** 33n - 5n;
  }
  return { ids: { dims: [n], data: ids }, x: { dims: [n], data: x }, ids64: { dims: [n], data: ids64 } };
}

const inThread = onnxruntimeNode();

describe("worker-thread runtime", () => {
  it("gives the in-thread runtime's outputs bit for bit, and leaves the caller's feeds usable", async () => {
    const workers = new WorkerThreadRuntime(inThread);
    const model = mixedTypesModel({ softmax: true });
    const here = await inThread.createSession(model, { intraOpNumThreads: 1 });
    const there = await workers.createSession(model, { intraOpNumThreads: 1 });
    try {
      assert.equal(workers.liveWorkers(), 1);
      assert.deepEqual(there.inputNames, here.inputNames);
      assert.deepEqual(there.outputNames, here.outputNames);
      const feeds = mixedFeeds(1000);
      const expected = await here.run(feeds);
      const got = await there.run(feeds);
      for (const name of ["y", "z", "w"]) {
        assert.equal(got[name].data.constructor, expected[name].data.constructor, name);
        assert.deepEqual(got[name].dims, expected[name].dims, name);
        assert.deepEqual(
          new Uint8Array(got[name].data.buffer, got[name].data.byteOffset, got[name].data.byteLength),
          new Uint8Array(
            expected[name].data.buffer,
            expected[name].data.byteOffset,
            expected[name].data.byteLength,
          ),
          name,
        );
      }
      // the feeds were copied, not moved: still there for the next run
      assert.equal(feeds.x.data.length, 1000);
      const onlyZ = await there.run(feeds, ["z"]);
      assert.deepEqual(Object.keys(onlyZ), ["z"]);
      assert.deepEqual(onlyZ.z.data, expected.z.data);
    } finally {
      await here.release();
      await there.release();
    }
    assert.equal(workers.liveWorkers(), 0);
  });

  it("loads a model by path as the in-thread runtime does", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sdlite-worker-rt-"));
    try {
      const path = join(dir, "mixed.onnx");
      writeFileSync(path, mixedTypesModel({ softmax: true }).bytes); // no external data: every initializer is small
      const workers = new WorkerThreadRuntime(inThread);
      const session = await workers.createSession({ path }, { intraOpNumThreads: 1 });
      const feeds = mixedFeeds(5);
      assert.deepEqual((await session.run(feeds)).y.data, (await sessionRun(inThread, path, feeds)).y.data);
      await session.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rejects a model it cannot load with the engine's own message, and ends that worker", async () => {
    const workers = new WorkerThreadRuntime(inThread);
    const missing = join(tmpdir(), "sdlite-no-such-model.onnx");
    const inThreadError = await inThread.createSession({ path: missing }).then(
      () => assert.fail("the in-thread runtime loaded a missing model"),
      (err: Error) => err,
    );
    await assert.rejects(workers.createSession({ path: missing }), (err: Error) => {
      assert.equal(err.message, inThreadError.message);
      assert.match(err.message, /sdlite-no-such-model\.onnx/);
      return true;
    });
    await waitFor(() => workers.liveWorkers() === 0);
  });

  it("rejects a failed run with its message, and the session still runs after it", async () => {
    const workers = new WorkerThreadRuntime(inThread);
    const session = await workers.createSession(mixedTypesModel({ softmax: true }), { intraOpNumThreads: 1 });
    try {
      await assert.rejects(
        session.run({ ...mixedFeeds(2), ids: { dims: [2], data: Int32Array.of(1) } }),
        /input "ids": 1 values for dims \[2\] \(expected 2\)/,
      );
      assert.deepEqual([...(await session.run(mixedFeeds(2))).z.data], [-4n, 2n ** 33n - 4n]);
    } finally {
      await session.release();
    }
  });

  it("release ends the worker; a run after it is an error, not a wait", async () => {
    const workers = new WorkerThreadRuntime(inThread);
    const session = await workers.createSession(mixedTypesModel({ softmax: true }), { intraOpNumThreads: 1 });
    assert.equal(workers.liveWorkers(), 1);
    await session.release();
    assert.equal(workers.liveWorkers(), 0);
    await assert.rejects(session.run(mixedFeeds(2)), /released/);
    await session.release(); // a second release does nothing
  });

  it("has no device tensors", async () => {
    const workers = new WorkerThreadRuntime(inThread);
    assert.equal(workers.deviceTensors(), false);
    await assert.rejects(
      workers.createSession(mixedTypesModel({ softmax: true }), { deviceOutputs: ["y"] }),
      /no device outputs/,
    );
    assert.equal(workers.liveWorkers(), 0);
  });
});

async function sessionRun(runtime: typeof inThread, path: string, feeds: Record<string, TensorData>) {
  const s: Session = await runtime.createSession({ path }, { intraOpNumThreads: 1 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

async function waitFor(condition: () => boolean): Promise<void> {
  // the worker's exit event follows its last message; a few turns of the event loop at most
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition());
}

describe("generate with the UNet in a worker thread", () => {
  const dir = mkdtempSync(join(tmpdir(), "sdlite-unet-worker-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const request: GenerationRequest = {
    prompt: "a photo of a cat",
    sampler: "Euler a",
    steps: 2,
    guidance: 7.5,
    seed: 3,
    width: 64,
    height: 64,
  };

  /** One image from a fresh pipeline over `cacheDir`, low-memory, the UNet in a worker or here. */
  async function image(cacheDir: string, unetInWorker: boolean, batchCount = 1) {
    const recorder = new RecordingRuntime(inThread);
    const workers = new WorkerThreadRuntime(inThread);
    const pipeline = await openPipeline(fixturePath("models/tiny-sd15"), {
      runtime: {
        backend: recorder,
        ...(unetInWorker ? { unetBackend: recorder.alongside(workers) } : {}),
        threads: 1,
        cache: new GraphCache(join(cacheDir, "graphs")),
      },
      memory: { lowMemory: true },
    });
    try {
      const made = await generate(pipeline.models, { ...request, batchCount });
      return {
        data: made[0].image.data,
        all: made.map((m) => m.image.data),
        sessions: [...recorder.sessions()],
        workers,
      };
    } finally {
      await pipeline.close();
    }
  }

  const byNetwork = (sessions: readonly SessionActivity[], network: string) => {
    const found = sessions.find((s) => cacheEntryKind(s.model) === network);
    assert.ok(found, `a ${network} session`);
    return found;
  };

  it("makes the same image, the UNet's session started before the text encoder's once its graph is stored", async () => {
    const cache = join(dir, "warm");
    const cold = await image(cache, false); // builds and stores every graph
    const here = await image(cache, false);
    const worker = await image(cache, true);
    assert.deepEqual(worker.data, here.data);
    assert.deepEqual(here.data, cold.data);
    // the UNet's creation began first and overlapped the text encoder's creation and run
    const unet = byNetwork(worker.sessions, "unet");
    const textEncoder = byNetwork(worker.sessions, "text_encoder");
    assert.ok(
      unet.createdAt < textEncoder.createdAt,
      `unet at ${unet.createdAt}, text encoder at ${textEncoder.createdAt}`,
    );
    assert.equal(unet.runs, 2);
    // in this thread the UNet is created after the prompt is encoded
    const unetHere = byNetwork(here.sessions, "unet");
    const textEncoderHere = byNetwork(here.sessions, "text_encoder");
    assert.ok(textEncoderHere.firstRunAt !== undefined && unetHere.createdAt > textEncoderHere.firstRunAt);
    assert.equal(worker.workers.liveWorkers(), 0, "the UNet's worker ended with the pipeline");
  });

  it("in a low-memory batch: the same images, the same sessions as in this thread", async () => {
    const cache = join(dir, "warm"); // stored by the test above
    const here = await image(cache, false, 2);
    const worker = await image(cache, true, 2);
    assert.deepEqual(worker.all, here.all);
    const networks = (sessions: readonly SessionActivity[]) =>
      sessions.map((s) => cacheEntryKind(s.model)).sort();
    assert.deepEqual(networks(worker.sessions), networks(here.sessions));
    const unet = byNetwork(worker.sessions, "unet");
    assert.ok(unet.createdAt < byNetwork(worker.sessions, "text_encoder").createdAt);
    assert.equal(worker.workers.liveWorkers(), 0);
  });

  it("with a cold cache keeps the old order (the graph is built here first) and the same image", async () => {
    const reference = await image(join(dir, "reference"), false);
    const worker = await image(join(dir, "cold"), true);
    assert.deepEqual(worker.data, reference.data);
    const unet = byNetwork(worker.sessions, "unet");
    const textEncoder = byNetwork(worker.sessions, "text_encoder");
    assert.ok(textEncoder.firstRunAt !== undefined && unet.createdAt > textEncoder.firstRunAt);
    assert.equal(worker.workers.liveWorkers(), 0);
  });
});

describe("worker-thread runtime: a worker that dies", () => {
  /** A worker that creates its "session" and exits with code 3 on the first request. */
  const dying = () => ({
    entry: `const { parentPort } = require("node:worker_threads");
parentPort.on("message", () => process.exit(3));
parentPort.postMessage({ type: "created", inputNames: ["x"], outputNames: ["y"] });`,
    eval: true,
  });

  it("rejects the pending run and every later call with a clear error, and does not hang", async () => {
    const workers = new WorkerThreadRuntime(inThread, dying);
    const session = await workers.createSession({ path: "unused.onnx" });
    assert.deepEqual(session.inputNames, ["x"]);
    const x = { dims: [1], data: Float32Array.of(1) };
    await assert.rejects(session.run({ x }), /the session worker exited \(code 3\)/);
    await assert.rejects(session.run({ x }), /the session worker exited \(code 3\)/);
    await session.release(); // nothing left to release: no error, no wait
    assert.equal(workers.liveWorkers(), 0);
  });

  it("rejects a creation whose worker exits before answering", async () => {
    const workers = new WorkerThreadRuntime(inThread, () => ({ entry: "process.exit(4)", eval: true }));
    await assert.rejects(
      workers.createSession({ path: "unused.onnx" }),
      /exited \(code 4\) before its session was created/,
    );
    await waitFor(() => workers.liveWorkers() === 0);
  });
});
