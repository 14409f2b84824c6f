/**
 * Starting the UNet before it is asked for: a worker-thread runtime's preloaded session is taken
 * over only by the request with the same model path and options over the same files (and gives the
 * same outputs), a
 * request for another ends it, close() ends one nobody took, a preload that failed is tried again for
 * its caller; the hints that say what to preload; and `sdlite generate` end to end: the second run of
 * a command line preloads the UNet at its start and makes the same image, a wrong hint changes
 * nothing, and no worker is left running when the model fails to load or on Ctrl-C.
 */
import assert from "node:assert/strict";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SessionHints } from "../src/cache/session-hints.js";
import type { GenerateOptions } from "../src/cli/commands/generate.js";
import { runBesideUnetPreload, unetHintKey } from "../src/cli/unet-preload.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { TensorData } from "../src/runtime/runtime.js";
import { WorkerThreadRuntime } from "../src/runtime/worker-thread-runtime.js";
import { fixturePath } from "./helpers/fixtures.js";
import { mixedTypesModel } from "./helpers/mixed-types-model.js";
import { describeRun, runSdlite } from "./helpers/sdlite-cli.js";

const inThread = onnxruntimeNode();
const dir = mkdtempSync(join(tmpdir(), "sdlite-unet-preload-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const modelFile = join(dir, "mixed.onnx");
const otherFile = join(dir, "other.onnx");
writeFileSync(modelFile, mixedTypesModel({ softmax: true }).bytes);
writeFileSync(otherFile, mixedTypesModel().bytes);

const feeds: Record<string, TensorData> = {
  ids: { dims: [3], data: Int32Array.of(1, 2, 3) },
  x: { dims: [3], data: Float32Array.of(0.5, -1, 2) },
  ids64: { dims: [3], data: BigInt64Array.of(5n, 6n, 7n) },
};

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition(), what);
}

describe("worker-thread runtime: preloaded sessions", () => {
  it("are taken over by the request with the same path and options, with the same outputs", async () => {
    const workers = new WorkerThreadRuntime(inThread);
    workers.preload({ path: modelFile, options: { intraOpNumThreads: 1, memPattern: false } });
    assert.equal(workers.liveWorkers(), 1, "the worker starts at once");
    // the same options in another order, an undefined one left out: the same request
    const session = await workers.createSession(
      { path: modelFile },
      { memPattern: false, intraOpNumThreads: 1, executionProviders: undefined },
    );
    assert.equal(workers.liveWorkers(), 1, "no second worker");
    assert.equal(workers.pendingPreloads(), 0);
    assert.deepEqual(
      workers.preloaded().map((p) => ({ taken: p.taken, created: p.created })),
      [{ taken: true, created: true }],
    );
    const here = await inThread.createSession(
      { path: modelFile },
      { intraOpNumThreads: 1, memPattern: false },
    );
    assert.deepEqual(await session.run(feeds), await here.run(feeds));
    await here.release();
    await session.release();
    assert.equal(workers.liveWorkers(), 0);
  });

  it("are ended by a request for another model or other options, which gets its own session", async () => {
    for (const [path, options] of [
      [otherFile, { intraOpNumThreads: 1 }],
      [modelFile, { intraOpNumThreads: 2 }],
    ] as const) {
      const workers = new WorkerThreadRuntime(inThread);
      workers.preload({ path: modelFile, options: { intraOpNumThreads: 1 } });
      const session = await workers.createSession({ path }, options);
      assert.equal(workers.preloaded()[0].taken, false);
      await waitFor(() => workers.liveWorkers() === 1, "the preload's worker ended");
      const out = await session.run(feeds);
      assert.equal("w" in out, path === modelFile, "the session asked for");
      await session.release();
      assert.equal(workers.liveWorkers(), 0);
    }
  });

  it("are not taken over when the model's files were rewritten meanwhile (a cache repair)", async () => {
    const entry = mkdtempSync(join(dir, "entry-"));
    const file = join(entry, "model.onnx");
    writeFileSync(file, mixedTypesModel({ softmax: true }).bytes);
    const workers = new WorkerThreadRuntime(inThread);
    workers.preload({ path: file, options: { intraOpNumThreads: 1 } });
    // the same bytes written again, as a repair does: another file (inode), the same request
    writeFileSync(`${file}.new`, mixedTypesModel({ softmax: true }).bytes);
    renameSync(`${file}.new`, file);
    const session = await workers.createSession({ path: file }, { intraOpNumThreads: 1 });
    assert.equal(workers.preloaded()[0].taken, false, "the preload read the old file");
    assert.ok("w" in (await session.run(feeds)));
    await session.release();
    await waitFor(() => workers.liveWorkers() === 0, "no worker left");
  });

  it("are ended by close() when nobody asks for them", async () => {
    const workers = new WorkerThreadRuntime(inThread);
    workers.preload({ path: modelFile });
    workers.preload({ path: modelFile }); // the same one again: still one worker
    assert.equal(workers.liveWorkers(), 1);
    await workers.close();
    await waitFor(() => workers.liveWorkers() === 0, "no worker left");
    assert.equal(workers.pendingPreloads(), 0);
  });

  it("that failed are tried again for the request, whose error it is", async () => {
    const missing = join(dir, "missing.onnx");
    const workers = new WorkerThreadRuntime(inThread);
    workers.preload({ path: missing });
    await waitFor(() => workers.preloaded()[0].readyAt !== undefined, "the preload answered");
    assert.equal(workers.preloaded()[0].created, false);
    const expected = await inThread.createSession({ path: missing }).then(
      () => assert.fail("no such model"),
      (err: Error) => err.message,
    );
    await assert.rejects(workers.createSession({ path: missing }), (err: Error) => err.message === expected);
    await waitFor(() => workers.liveWorkers() === 0, "no worker left");
  });
});

describe("session hints", () => {
  it("keep the last request per key; a missing, damaged or foreign hint is none", () => {
    const hints = new SessionHints(join(dir, "hints-cache"));
    const key = SessionHints.key("a command line");
    assert.equal(hints.read(key), undefined);
    hints.write(key, { path: "/c/optimized/unet-x/model.onnx", options: { intraOpNumThreads: 2 } });
    assert.deepEqual(hints.read(key), {
      path: "/c/optimized/unet-x/model.onnx",
      options: { intraOpNumThreads: 2 },
    });
    assert.deepEqual(readdirSync(hints.dir), [`${key}.json`], "no temporary file left");
    writeFileSync(join(hints.dir, `${key}.json`), "{ not json");
    assert.equal(hints.read(key), undefined);
    writeFileSync(join(hints.dir, `${key}.json`), JSON.stringify({ version: 999, path: "/x" }));
    assert.equal(hints.read(key), undefined);
  });

  it("are keyed by what shapes a session: not the prompt's seed, steps or output; the model file's identity", () => {
    const base: GenerateOptions = { model: modelFile, lora: [], output: "outputs", fast: true };
    const key = unetHintKey(base, dir);
    assert.equal(unetHintKey({ ...base, seed: 5, steps: 8, cfg: 2, output: "x", negative: "n" }, dir), key);
    assert.notEqual(unetHintKey({ ...base, fast: undefined }, dir), key);
    assert.notEqual(unetHintKey({ ...base, quantize: "none" }, dir), key);
    assert.notEqual(unetHintKey({ ...base, model: otherFile }, dir), key);
    utimesSync(modelFile, new Date(), new Date(Date.now() + 5000));
    assert.notEqual(unetHintKey(base, dir), key, "a touched model file");
  });
});

describe("sdlite generate: the UNet preloaded from the last run's hint", () => {
  const cache = join(dir, "cli-cache");
  const env = { SDLITE_CACHE: cache, SDLITE_UNET_WORKER: undefined };
  const tiny = fixturePath("models/tiny-sd15");
  const args = (out: string, model = tiny, steps = 2) => [
    "generate",
    "a cat",
    "-m",
    model,
    "--steps",
    String(steps),
    "-W",
    "64",
    "-H",
    "64",
    "--seed",
    "3",
    "--threads",
    "1",
    "--json",
    "-o",
    join(dir, out),
  ];
  /** The options commander makes of `args` (the hint's key is computed from them). */
  const options = (out: string, model = tiny): GenerateOptions => ({
    model,
    lora: [],
    steps: 2,
    width: 64,
    height: 64,
    seed: 3,
    threads: 1,
    json: true,
    output: join(dir, out),
  });
  const startup = (stdout: string) => JSON.parse(stdout).timings.startup;
  const hintFiles = () => (existsSync(join(cache, "hints")) ? readdirSync(join(cache, "hints")) : []);

  it("preloads the UNet at the start of the second run and makes the same image", async () => {
    const first = await runSdlite(args("a.png"), env); // builds the graphs; the UNet created its optimised model
    assert.equal(first.status, 0, describeRun(first));
    assert.equal(startup(first.stdout).preloads, undefined, "no hint yet");
    assert.deepEqual(hintFiles(), [], "a session that saved its optimised model is no hint");
    const second = await runSdlite(args("b.png"), env);
    assert.equal(second.status, 0, describeRun(second));
    assert.deepEqual(
      hintFiles(),
      [`${unetHintKey(options("b.png"), process.cwd())}.json`],
      "the stored UNet is the hint",
    );
    const third = await runSdlite(args("c.png"), env);
    assert.equal(third.status, 0, describeRun(third));
    const s = startup(third.stdout);
    assert.equal(s.preloads?.length, 1);
    const [preload] = s.preloads;
    const unet = s.sessions.find((x: { network: string }) => x.network === "unet");
    assert.equal(preload.network, "unet");
    assert.equal(preload.taken, true);
    // started before the job was built and the pipeline opened, so before the UNet was asked for
    assert.ok(preload.startedAtMs < s.nodeBootstrapMs + s.importMs, JSON.stringify(s));
    assert.ok(preload.startedAtMs < unet.createdAtMs);
    const png = (f: string) => readFileSync(join(dir, f));
    assert.deepEqual(png("c.png"), png("a.png"));
    assert.deepEqual(png("b.png"), png("a.png"));
  });

  it("a wrong hint changes nothing but the preload, which ends", async () => {
    const [file] = hintFiles();
    const hintPath = join(cache, "hints", file);
    const right = JSON.parse(readFileSync(hintPath, "utf-8"));
    const textEncoder = readdirSync(join(cache, "optimized")).find((e) => e.startsWith("text_encoder-"));
    assert.ok(textEncoder);
    writeFileSync(
      hintPath,
      JSON.stringify({ ...right, path: join(cache, "optimized", textEncoder, "model.onnx") }),
    );
    const run = await runSdlite(args("d.png"), env);
    assert.equal(run.status, 0, describeRun(run));
    const [preload] = startup(run.stdout).preloads;
    assert.equal(preload.network, "text_encoder");
    assert.equal(preload.taken, false);
    assert.deepEqual(readFileSync(join(dir, "d.png")), readFileSync(join(dir, "a.png")));
    assert.deepEqual(JSON.parse(readFileSync(hintPath, "utf-8")), right, "the hint is put right");
  });

  it("ends the preload when the model fails to load, and on Ctrl-C", async () => {
    // a model that fails to load after the preload started: the command line's hint, a broken model
    const broken = join(dir, "broken.safetensors");
    writeFileSync(broken, "not a checkpoint");
    const hints = new SessionHints(cache);
    const hint = hints.read(unetHintKey(options("e.png"), process.cwd()));
    assert.ok(hint);
    hints.write(unetHintKey(options("e.png", broken), process.cwd()), hint);
    const started = Date.now();
    const failed = await runSdlite(args("e.png", broken), env);
    assert.equal(failed.status, 1, describeRun(failed));
    assert.match(failed.stderr, /sdlite: /);
    assert.ok(Date.now() - started < 60_000, "the process ended (no worker kept it)");
    const stopped = await runSdlite(args("f.png", tiny, 1000), env, {
      signalWhen: { pattern: /^loading /m, signal: "SIGINT" },
    });
    assert.equal(stopped.status, 130, describeRun(stopped));
    assert.match(stopped.stderr, /interrupted/);
  });
});

describe("a command's work beside its UNet preload", () => {
  /** A preload whose close() answers only when the test lets it (a creation still running). */
  function slowPreload() {
    let finish = () => {};
    let closed = false;
    const closing = new Promise<void>((resolve) => {
      finish = () => {
        closed = true;
        resolve();
      };
    });
    const runtime = { close: () => closing } as unknown as WorkerThreadRuntime;
    return { preload: { runtime }, finish, isClosed: () => closed };
  }

  it("hands on an error without waiting for the preload to end, and still ends it", async () => {
    const { preload, finish, isClosed } = slowPreload();
    await assert.rejects(
      runBesideUnetPreload(preload, async () => {
        throw new Error("steps must be an integer from 1 to 1000, got 0");
      }),
      /steps must be/,
    );
    assert.equal(isClosed(), false, "the error came before the preload ended");
    finish();
    await new Promise((r) => setImmediate(r));
    assert.equal(isClosed(), true);
  });

  it("waits for the preload to end after work that succeeded", async () => {
    const { preload, finish, isClosed } = slowPreload();
    let settled = false;
    const done = runBesideUnetPreload(preload, async () => {}).then(() => {
      settled = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, "success waits for close()");
    finish();
    await done;
    assert.equal(isClosed(), true);
  });
});
