/**
 * The extras upscale under the child-process executor (what `sdlite serve` runs): while an ESRGAN
 * upscale of a large image computes, /progress and /interrupt answer within a second (the network
 * runs in the executor process, not on the server's thread); an interrupt stops it within a tile;
 * the PNG is the same bytes as the in-process executor's; bad upscalers are still a 4xx, and an
 * upscaler failing inside the executor process keeps its error class.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { ChildProcessExecutor } from "../src/executor/child-process-executor.js";
import { InProcessExecutor } from "../src/executor/in-process-executor.js";
import { decodePng, encodePng } from "../src/image/png.js";
import { createServer } from "../src/server/create-server.js";
import { UpscalerModelError } from "../src/upscale/esrgan-architecture.js";
import { upscaleJobImage } from "../src/upscale/upscale-job.js";
import { timed } from "./helpers/timed.js";
import { tinyRrdbWeights, writeTinyPth } from "./helpers/tiny-upscalers.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-server-upscale-executor-"));
process.env.SDLITE_CACHE = join(work, "cache");
const upscalersDir = join(work, "ESRGAN");
mkdirSync(upscalersDir, { recursive: true });
writeTinyPth(
  join(upscalersDir, "4x-Tiny.pth"),
  // RRDBNet's real width (64 features, growth 32) with one block: a 192 px tile takes seconds
  tinyRrdbWeights({ blocks: 1, features: 64, growth: 32, upsamples: 2, unshuffle: 1 }, 21),
);
writeFileSync(join(upscalersDir, "broken.pth"), "not a checkpoint");

/** Generous: these endpoints must not wait for a tile, let alone the upscale. */
const ANSWER_MS = 1000;
/**
 * 384 px by 4: 4 tiles of 192 px, each holding its thread ~1.7 s here (onnxruntime-node runs a
 * session on the calling thread): on the server's thread (the in-process executor) /progress waits
 * that long, so this fails there.
 */
const SIDE = 384;
const pixels = Uint8Array.from({ length: SIDE * SIDE * 3 }, (_, i) => (i * 41 + (i >> 7)) % 256);
const image = Buffer.from(
  encodePng({ width: SIDE, height: SIDE, channels: 3, data: pixels }, { parameters: "a big boat" }),
).toString("base64");
const LONG_UPSCALE = { image, upscaler_1: "4x-Tiny", upscaling_resize: 4 };

function serverOptions(executor: "in-process" | "child-process") {
  return {
    modelsDir: join(work, "models"),
    hubCacheDir: false as const,
    upscalersDir,
    engine: { runtime: { threads: 1, cache: false } },
    webDir: false as const,
    executor,
  };
}

let app: FastifyInstance;
before(async () => {
  app = await createServer(serverOptions("child-process"));
});
after(async () => {
  await app?.close();
  rmSync(work, { recursive: true, force: true });
});

interface ProgressBody {
  state: { sampling_step: number; sampling_steps: number; interrupted: boolean };
}

async function progress(): Promise<ProgressBody> {
  return (await app.inject({ method: "GET", url: "/sdapi/v1/progress" })).json() as ProgressBody;
}

/** Polls /progress until the upscale has done a tile (its network is running). */
async function untilTiling(): Promise<void> {
  for (;;) {
    if ((await progress()).state.sampling_steps > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const PAUSE_MS = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("extras upscale in the executor process", () => {
  let childPng = "";

  it("/progress answers within a second while a long upscale runs", async () => {
    let finished = false;
    const request = app
      .inject({ method: "POST", url: "/sdapi/v1/extra-single-image", payload: LONG_UPSCALE })
      .finally(() => {
        finished = true;
      });
    await untilTiling();
    let whileRunning = 0;
    for (let i = 0; i < 600 && !finished; i++) {
      // timed from before the pause: a server thread busy with the upscale delays the timer too
      const asked = performance.now();
      await sleep(PAUSE_MS);
      const value = await progress();
      const ms = performance.now() - asked - PAUSE_MS;
      assert.ok(ms < ANSWER_MS, `/progress took ${ms.toFixed(0)} ms during an upscale`);
      if (!finished) {
        whileRunning++;
        assert.ok(value.state.sampling_steps > 0, "progress shows the upscale's tiles");
      }
    }
    assert.ok(whileRunning >= 3, `only ${whileRunning} checks fell while the upscale ran: make it longer`);
    const response = await request;
    assert.equal(response.statusCode, 200, response.body);
    childPng = (response.json() as { image: string }).image;
    const out = decodePng(Buffer.from(childPng, "base64"));
    assert.equal(out.width, SIDE * 4);
    assert.equal(out.height, SIDE * 4);
    assert.equal(out.text.parameters, "a big boat");
    assert.match(out.text.postprocessing, /Postprocess upscaler: 4x-Tiny/);
  });

  it("the PNG is the same bytes as the in-process executor's", async () => {
    assert.ok(childPng, "needs the upscale above");
    const inProcess = await createServer(serverOptions("in-process"));
    try {
      const response = await inProcess.inject({
        method: "POST",
        url: "/sdapi/v1/extra-single-image",
        payload: LONG_UPSCALE,
      });
      assert.equal(response.statusCode, 200, response.body);
      assert.equal((response.json() as { image: string }).image, childPng);
    } finally {
      await inProcess.close();
    }
  });

  it("an interrupt answers within a second and stops the upscale at the end of its tile", async () => {
    let finished = false;
    const request = app
      .inject({ method: "POST", url: "/sdapi/v1/extra-single-image", payload: LONG_UPSCALE })
      .finally(() => {
        finished = true;
      });
    await untilTiling();
    const { value, ms } = await timed(() => app.inject({ method: "POST", url: "/sdapi/v1/interrupt" }));
    assert.equal(value.statusCode, 200);
    assert.ok(ms < ANSWER_MS, `/interrupt took ${ms.toFixed(0)} ms`);
    // read after the interrupt: at least the tiles done when it came
    const doneAtInterrupt = (await progress()).state.sampling_step;
    let mostDone = doneAtInterrupt;
    while (!finished) {
      mostDone = Math.max(mostDone, (await progress()).state.sampling_step);
      await sleep(20);
    }
    const response = await request;
    assert.equal(response.statusCode, 409, response.body);
    assert.match(response.body, /interrupted/);
    // the running tile ends; no other starts
    assert.ok(
      mostDone <= doneAtInterrupt + 1 && mostDone < 4,
      `${mostDone} tiles done, ${doneAtInterrupt} when interrupted`,
    );
    // the executor process is still usable
    const small = await app.inject({
      method: "POST",
      url: "/sdapi/v1/extra-single-image",
      payload: {
        image: Buffer.from(
          encodePng({ width: 8, height: 8, channels: 3, data: pixels.subarray(0, 192) }, {}),
        ).toString("base64"),
        upscaler_1: "4x-Tiny",
        upscaling_resize: 2,
      },
    });
    assert.equal(small.statusCode, 200, small.body);
    assert.equal(decodePng(Buffer.from((small.json() as { image: string }).image, "base64")).width, 16);
  });

  it("a bad or unknown upscaler is still a 4xx naming the field", async () => {
    for (const [name, pattern] of [
      ["broken", /upscaler_1: /],
      ["No Such Model", /upscaler_1: no upscaler named "No Such Model"/],
    ] as const) {
      const r = await app.inject({
        method: "POST",
        url: "/sdapi/v1/extra-single-image",
        payload: { image, upscaler_1: name },
      });
      assert.equal(r.statusCode, 422, r.body);
      assert.match((r.json() as { detail: string }).detail, pattern);
    }
  });

  it("an upscaler failing in the executor process keeps its error class (as in process)", async () => {
    // readable weights, but no ESRGAN-family network: found only when the executor opens it
    const odd = join(work, "odd.pth");
    writeTinyPth(odd, new Map([["foo.weight", { shape: [2], data: Float32Array.of(1, 2) }]]));
    const job = {
      image: upscaleJobImage({ width: 8, height: 8, data: pixels.subarray(0, 192) }),
      text: {},
      resize: { mode: "by" as const, scale: 2 },
      upscaler: { name: "odd", path: odd },
    };
    for (const executor of [new ChildProcessExecutor({ upscaleCache: false }), new InProcessExecutor()]) {
      try {
        await assert.rejects(executor.upscale(job), (err: Error) => {
          assert.ok(err instanceof UpscalerModelError, `${err.name}: ${err.message}`);
          assert.match(err.message, /not an ESRGAN-family upscaler/);
          return true;
        });
      } finally {
        await executor.close();
      }
    }
  });
});
