/**
 * Low-memory mode loads each network only while its stage runs; the default keeps them loaded
 * between runs. Seen through a Runtime wrapper that counts the sessions created and released.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { type EngineOptions, openPipeline } from "../src/engine/open-pipeline.js";
import { toRgb } from "../src/image/color.js";
import { decodePng } from "../src/image/png.js";
import type { RgbImage } from "../src/image/types.js";
import { generate } from "../src/pipeline/generate.js";
import type { GenerationRequest } from "../src/pipeline/request.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { ModelSource, Runtime, Session, SessionOptions } from "../src/runtime/runtime.js";
import { fixturePath } from "./helpers/fixtures.js";
import { caseRequest, pipelineCase } from "./helpers/pipeline-cases.js";

/** Delegates to onnxruntime-node and keeps count: created, released, live now, most live at once. */
class CountingRuntime implements Runtime {
  readonly name = "counting";
  private readonly inner = onnxruntimeNode();
  created = 0;
  released = 0;
  peakLive = 0;

  get live(): number {
    return this.created - this.released;
  }

  availableProviders(): string[] {
    return this.inner.availableProviders();
  }

  async createSession(model: ModelSource, options?: SessionOptions): Promise<Session> {
    const session = await this.inner.createSession(model, options);
    this.created++;
    this.peakLive = Math.max(this.peakLive, this.live);
    let released = false;
    return {
      inputNames: session.inputNames,
      outputNames: session.outputNames,
      run: (feeds, names) => session.run(feeds, names),
      release: async () => {
        assert.equal(released, false, "a session was released twice");
        released = true;
        this.released++;
        await session.release();
      },
    };
  }

  /** Starts a new peak measurement from what is loaded now. */
  resetPeak(): void {
    this.peakLive = this.live;
  }
}

function requestFor(id: string): { request: GenerationRequest; png: string } {
  const c = pipelineCase(id);
  return { request: caseRequest(c), png: c.png };
}

function sameImage(a: RgbImage, b: RgbImage, label: string): void {
  let worst = 0;
  for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i] - b.data[i]));
  assert.equal(worst, 0, `${label}: images differ by up to ${worst} levels`);
}

async function run(model: string, lowMemory: boolean, ids: string[]) {
  const runtime = new CountingRuntime();
  const options: EngineOptions = {
    runtime: { cache: false, threads: 1, backend: runtime },
    memory: { lowMemory },
  };
  const pipeline = await openPipeline(fixturePath(model), options);
  assert.equal(runtime.created, 0, "opening a pipeline creates no session (they load on first use)");
  const runs: { image: RgbImage; created: number; released: number; peakLive: number; liveAfter: number }[] =
    [];
  for (const id of ids) {
    const before = { created: runtime.created, released: runtime.released };
    runtime.resetPeak();
    const [result] = await generate(pipeline.models, requestFor(id).request);
    runs.push({
      image: result.image,
      created: runtime.created - before.created,
      released: runtime.released - before.released,
      peakLive: runtime.peakLive,
      liveAfter: runtime.live,
    });
  }
  await pipeline.close();
  return { runs, liveAfterClose: runtime.live };
}

const TXT2IMG = "txt2img_euler_a_4";
const IMG2IMG = "img2img_euler_8_s0.6";
// txt2img loads the text encoder, UNet and VAE decoder; img2img adds the VAE encoder
const SESSIONS = { [TXT2IMG]: 3, [IMG2IMG]: 4 };

describe("low-memory mode", () => {
  // the ONNX UNet takes ~1 s per session (onnxruntime optimises the exported graph), so it runs twice only
  for (const [model, ids, normalCounts] of [
    [
      "models/tiny-sd15",
      [TXT2IMG, IMG2IMG, TXT2IMG],
      [
        [3, 0, 3],
        [1, 0, 4], // only the VAE encoder is new
        [0, 0, 4], // everything already loaded: none created
      ],
    ],
    [
      "models/tiny-sd15-onnx",
      [TXT2IMG, IMG2IMG],
      [
        [3, 0, 3],
        [1, 0, 4],
      ],
    ],
  ] as const) {
    it(`${model}: ${ids.join(", ")} — low-memory releases every session after each run, normal mode keeps them; same images`, async () => {
      const low = await run(model, true, [...ids]);
      const normal = await run(model, false, [...ids]);

      low.runs.forEach((r, i) => {
        const label = `${model} low-memory run ${i + 1} (${ids[i]})`;
        assert.equal(r.created, SESSIONS[ids[i]], `${label}: sessions created`);
        assert.equal(r.released, SESSIONS[ids[i]], `${label}: sessions released`);
        assert.equal(r.liveAfter, 0, `${label}: sessions still loaded after generate`);
        assert.equal(r.peakLive, 1, `${label}: most sessions loaded at once`);
      });
      assert.deepEqual(
        normal.runs.map((r) => [r.created, r.released, r.liveAfter]),
        normalCounts,
        `${model} normal mode: [created, released, loaded after] per run`,
      );
      assert.equal(low.liveAfterClose, 0, `${model}: sessions left after close (low-memory)`);
      assert.equal(normal.liveAfterClose, 0, `${model}: sessions left after close (normal)`);

      // the ONNX VAE encoder samples with its own unseeded noise: only txt2img is comparable there
      ids.forEach((id, i) => {
        if (id === IMG2IMG && model.includes("onnx")) return;
        sameImage(
          low.runs[i].image,
          normal.runs[i].image,
          `${model} ${id} (run ${i + 1}): low-memory vs normal`,
        );
      });
      // and the image is diffusers', not merely the same in both modes
      const golden = toRgb(decodePng(new Uint8Array(readFileSync(fixturePath(requestFor(TXT2IMG).png)))));
      let worst = 0;
      for (let i = 0; i < golden.data.length; i++) {
        worst = Math.max(worst, Math.abs(golden.data[i] - low.runs[0].image.data[i]));
      }
      assert.ok(worst <= 1, `${model} low-memory ${TXT2IMG} vs diffusers PNG: ${worst} levels`);
    });
  }
});
