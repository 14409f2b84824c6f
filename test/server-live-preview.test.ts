/**
 * Live previews of a server job with the tiny model: TAESD previews are full-size PNGs (the TAESD
 * decode of the reported latents), "approx" ones latent-size, "none" gives no image; the A1111
 * options switch between them.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { decodePng } from "../src/image/png.js";
import { type CreateServerOptions, createServer } from "../src/server/create-server.js";
import type { GenerationResult } from "../src/server/generation-task.js";
import type { ServerJobResult } from "../src/server/server-context.js";
import { fixturePath } from "./helpers/fixtures.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-live-preview-"));
process.env.SDLITE_CACHE = join(work, "cache");
const taesd = fixturePath("models/tiny-taesd");
const apps: FastifyInstance[] = [];

after(async () => {
  for (const app of apps) await app.close();
  rmSync(work, { recursive: true, force: true });
});

async function server(options: Partial<CreateServerOptions>): Promise<FastifyInstance> {
  const app = await createServer({
    model: fixturePath("models/tiny-sd15"),
    modelsDir: join(work, "models"),
    hubCacheDir: false,
    webDir: false,
    ...options,
    engine: { runtime: { threads: 1 }, ...options.engine },
  });
  apps.push(app);
  return app;
}

interface Previews {
  steps: number[];
  images: { width: number; height: number; data: Uint8Array }[];
  result: GenerationResult;
  currentImage?: string;
}

/** Runs a 64x64 txt2img job and collects its preview events. */
async function run(app: FastifyInstance, body: Record<string, unknown> = {}): Promise<Previews> {
  const context = app.sdlite.context;
  const job = context.submitGeneration(
    context.plan("txt2img", { prompt: "a red square", width: 64, height: 64, steps: 4, seed: 3, ...body }),
  );
  const steps: number[] = [];
  const images: Previews["images"] = [];
  job.subscribe((event) => {
    if (event.type !== "preview") return;
    steps.push(event.step);
    images.push(decodePng(new Uint8Array(Buffer.from(event.image, "base64"))));
  });
  const result = (await job.finished) as ServerJobResult;
  assert.ok(result.kind === "txt2img");
  return { steps, images, result, currentImage: job.progress.currentImage };
}

const pixels = (base64: string) => decodePng(new Uint8Array(Buffer.from(base64, "base64")));

describe("server live previews", () => {
  it("with TAESD weights they default to TAESD: full-size PNGs every 5 steps, the TAESD decode of the latents", async () => {
    const app = await server({ engine: { taesd, speed: { decoder: "taesd" } } });
    const options = (await app.inject({ method: "GET", url: "/sdapi/v1/options" })).json();
    assert.equal(options.show_progress_type, "TAESD");
    assert.equal(options.show_progress_every_n_steps, 5);
    assert.equal(options.live_previews_enable, true);

    const { steps, images, result, currentImage } = await run(app, { steps: 5 });
    assert.deepEqual(steps, [5]);
    assert.deepEqual([images[0].width, images[0].height], [64, 64]);
    assert.ok(currentImage);
    assert.deepEqual([pixels(currentImage).width, pixels(currentImage).height], [64, 64]);
    // step 5 of 5: the TAESD decode of the final latents, which is the final image (decoder taesd)
    assert.deepEqual([...images[0].data], [...pixels(result.images[0]).data]);

    // a step due while a decode still runs gets none: at most one decode every 5 steps
    const longer = await run(app, { steps: 12 });
    assert.ok(longer.steps.length > 0, "no preview");
    assert.ok(
      longer.steps.every((s) => s % 5 === 0),
      longer.steps.join(","),
    );
    assert.notDeepEqual([...longer.images[0].data], [...pixels(longer.result.images[0]).data]);
  });

  it("the full VAE decodes the image while TAESD draws the previews", async () => {
    const app = await server({ engine: { taesd }, previewEvery: 4 });
    const { steps, images, result } = await run(app);
    assert.deepEqual(steps, [4]);
    assert.deepEqual([images[0].width, images[0].height], [64, 64]);
    const final = pixels(result.images[0]);
    assert.notDeepEqual([...images[0].data], [...final.data], "TAESD preview vs full VAE image");
    // the same job on a server decoding with TAESD: its image is the preview
    const same = await run(await server({ engine: { taesd, speed: { decoder: "taesd" } }, previewEvery: 4 }));
    assert.deepEqual([...images[0].data], [...pixels(same.result.images[0]).data]);
  });

  it("without TAESD weights they default to the cheap approximation at latent size, the last step included", async () => {
    const app = await server({});
    const options = (await app.inject({ method: "GET", url: "/sdapi/v1/options" })).json();
    assert.equal(options.show_progress_type, "Approx cheap");
    assert.equal(options.show_progress_every_n_steps, 3);
    const { steps, images } = await run(app);
    assert.deepEqual(steps, [3, 4]);
    for (const image of images) assert.deepEqual([image.width, image.height], [8, 8]);
    // asking for TAESD previews without weights is refused, naming the fix
    const refused = await app.inject({
      method: "POST",
      url: "/sdapi/v1/options",
      payload: { show_progress_type: "TAESD" },
    });
    assert.equal(refused.statusCode, 422);
    assert.match(refused.body, /--taesd PATH/);
  });

  it('"none" gives no image; the A1111 options turn previews back on and change their kind and period', async () => {
    const app = await server({ engine: { taesd }, preview: "none" });
    const none = await run(app);
    assert.deepEqual(none.steps, []);
    assert.equal(none.currentImage, undefined);

    const set = async (payload: Record<string, unknown>) => {
      const r = await app.inject({ method: "POST", url: "/sdapi/v1/options", payload });
      assert.equal(r.statusCode, 200, r.body);
    };
    await set({
      live_previews_enable: true,
      show_progress_type: "Approx cheap",
      show_progress_every_n_steps: 2,
    });
    const approx = await run(app);
    assert.deepEqual(approx.steps, [2, 4]);
    assert.deepEqual([approx.images[0].width, approx.images[0].height], [8, 8]);

    await set({ show_progress_type: "TAESD" });
    const full = await run(app);
    assert.ok(full.steps.length > 0 && full.steps.every((s) => s % 2 === 0), full.steps.join(","));
    assert.deepEqual([full.images[0].width, full.images[0].height], [64, 64]);

    await set({ show_progress_every_n_steps: -1 });
    assert.deepEqual((await run(app)).steps, []);
    const options = (await app.inject({ method: "GET", url: "/sdapi/v1/options" })).json();
    assert.equal(options.show_progress_type, "TAESD");
    assert.equal(options.show_progress_every_n_steps, -1);

    const bad = await app.inject({
      method: "POST",
      url: "/sdapi/v1/options",
      payload: { show_progress_type: "Approx NN" },
    });
    assert.equal(bad.statusCode, 422);
    assert.match(bad.json().detail, /show_progress_type must be one of "TAESD", "Approx cheap", "None"/);
  });

  it("refuses TAESD previews without TAESD weights at start-up", async () => {
    await assert.rejects(server({ preview: "taesd" }), /TAESD previews need TAESD weights/);
  });
});
