/**
 * The engine's TAESD preview decoder: full-size images of one batch item, the session loaded on
 * the first preview, released only after a decode in flight, and (low-memory mode) freed when
 * denoising ends; the real tiny TAESD through openPipeline gives the TAESD pipeline's decode.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { LazySession } from "../src/engine/lazy-session.js";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { SessionPreviewDecoder } from "../src/engine/preview-decoder.js";
import { decodedToImages } from "../src/image/convert.js";
import { generate } from "../src/pipeline/generate.js";
import type { Shape4 } from "../src/pipeline/networks.js";
import { createRandomSource } from "../src/rng/index.js";
import type { Session } from "../src/runtime/runtime.js";
import { fixturePath } from "./helpers/fixtures.js";

describe("SessionPreviewDecoder", () => {
  function fakeSession() {
    const log: string[] = [];
    const session: Session = {
      inputNames: [],
      outputNames: [],
      run: async () => ({}),
      release: async () => {
        log.push("released");
      },
    };
    const lazy = new LazySession(async () => {
      log.push("created");
      return session;
    });
    return { log, lazy };
  }

  it("decodes the chosen batch item to 8× its size and releases the session only after that decode", async () => {
    const { log, lazy } = fakeSession();
    let finish: () => void = () => {};
    const seen: number[][] = [];
    const decoder = new SessionPreviewDecoder(
      {
        decode: async (latents, shape) => {
          await lazy.get();
          seen.push([...shape, latents[0]]);
          await new Promise<void>((resolve) => {
            finish = resolve;
          });
          log.push("decoded");
          return new Float32Array(3 * 8 * shape[2] * 8 * shape[3]);
        },
      },
      lazy,
    );
    assert.deepEqual(log, [], "nothing loads before the first preview");
    const latents = new Float32Array(2 * 4 * 2 * 3).fill(1, 24); // item 1 is all ones
    const image = decoder.decode(latents, [2, 4, 2, 3], 1);
    const released = decoder.release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(log, ["created"], "released while decoding");
    finish();
    assert.deepEqual(await image.then((i) => [i.width, i.height]), [24, 16]);
    await released;
    assert.deepEqual(log, ["created", "decoded", "released"]);
    assert.deepEqual(seen, [[1, 4, 2, 3, 1]]);
    assert.throws(() => decoder.decode(latents, [2, 4, 2, 3], 2), /batch item 2 of 2/);
    assert.throws(() => decoder.decode(latents, [1, 4, 2, 2]), /do not fill/);
  });
});

describe("openPipeline's preview decoder on the tiny model", () => {
  const taesd = fixturePath("models/tiny-taesd");
  const opened: OpenedPipeline[] = [];
  const open = async (options: Parameters<typeof openPipeline>[1]) => {
    const p = await openPipeline(fixturePath("models/tiny-sd15"), {
      ...options,
      runtime: { cache: false, threads: 1 },
    });
    opened.push(p);
    return p;
  };
  after(async () => {
    for (const p of opened) await p.close();
  });

  it("exists only with TAESD weights, and decodes as the TAESD decoder does", async () => {
    assert.equal((await open({})).previewDecoder, undefined);
    const vae = await open({ taesd });
    const tiny = await open({ taesd, speed: { decoder: "taesd" } });
    const shape: Shape4 = [1, 4, 8, 12];
    const latents = createRandomSource("cpu", 8).randn(shape);
    const preview = await vae.previewDecoder!.decode(latents, shape);
    const [expected] = decodedToImages(await tiny.models.vae.decode(latents, shape), [1, 3, 64, 96]);
    assert.deepEqual([preview.width, preview.height], [96, 64]);
    assert.deepEqual([...preview.data], [...expected.data]);
    const [fullVae] = decodedToImages(await vae.models.vae.decode(latents, shape), [1, 3, 64, 96]);
    assert.notDeepEqual([...preview.data], [...fullVae.data], "the preview must not be the full VAE");
  });

  it("low-memory mode frees the preview session when denoising ends; the next preview reloads it", async () => {
    const p = await open({ taesd, memory: { lowMemory: true } });
    const decoder = p.previewDecoder!;
    let releases = 0;
    const release = decoder.release.bind(decoder);
    decoder.release = async () => {
      releases++;
      await release();
    };
    const previews: Promise<unknown>[] = [];
    await generate(
      p.models,
      { prompt: "x", sampler: "Euler", guidance: 7, steps: 2, seed: 1, width: 64, height: 64 },
      {
        onProgress: (progress) => {
          if (progress.stage === "denoise" && progress.latents && progress.latentShape)
            previews.push(decoder.decode(progress.latents, progress.latentShape));
        },
      },
    );
    await Promise.all(previews);
    assert.equal(previews.length, 2);
    assert.equal(releases, 1, "released once, after the UNet stage");
    const again = await decoder.decode(new Float32Array(4 * 8 * 8), [1, 4, 8, 8]);
    assert.deepEqual([again.width, again.height], [64, 64]);
  });
});
