/**
 * The A1111 upscaling endpoints through fastify inject: /sdapi/v1/upscalers lists the resamplers
 * and the models in --upscalers-dir (with their detected scale), /sdapi/v1/extra-single-image
 * upscales by a factor or to a size (crop), with a model (same pixels as the library), blends a
 * second upscaler, keeps the PNG's text, runs as a queued job, and refuses bad input with a 4xx
 * naming the field.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { decodePng, encodePng } from "../src/image/png.js";
import { resizeRgb } from "../src/image/resize.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { createServer } from "../src/server/create-server.js";
import { classicUpscaler, resizeNearestRgb } from "../src/upscale/classic-upscalers.js";
import { blendImages } from "../src/upscale/extras-upscale.js";
import { ModelUpscaler } from "../src/upscale/model-upscaler.js";
import { upscaleBy } from "../src/upscale/upscale-by.js";
import type { Upscaler } from "../src/upscale/upscaler.js";
import {
  tinyCompactWeights,
  tinyRrdbWeights,
  writeTinyPth,
  writeTinySafetensors,
} from "./helpers/tiny-upscalers.js";

const dir = mkdtempSync(join(tmpdir(), "sdlite-server-upscale-"));
const upscalersDir = join(dir, "ESRGAN");
mkdirSync(join(upscalersDir, "sub"), { recursive: true });
const rrdbPath = join(upscalersDir, "4x-Tiny.pth");
writeTinyPth(
  rrdbPath,
  tinyRrdbWeights({ blocks: 1, features: 8, growth: 4, upsamples: 2, unshuffle: 1 }, 21),
);
writeTinySafetensors(join(upscalersDir, "sub", "realesr-tiny-x2.safetensors"), tinyCompactWeights(8, 1, 2));
writeFileSync(join(upscalersDir, "broken.pth"), "not a checkpoint");

const width = 24;
const height = 16;
const pixels = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 41 + (i >> 5)) % 256);
const parameters = "a red boat\nSteps: 4, Sampler: Euler, CFG scale: 7, Seed: 3, Size: 24x16";
const imageBase64 = Buffer.from(
  encodePng({ width, height, channels: 3, data: pixels }, { parameters }),
).toString("base64");

let app: FastifyInstance;
before(async () => {
  app = await createServer({
    modelsDir: join(dir, "models"),
    hubCacheDir: false,
    upscalersDir,
    engine: { runtime: { threads: 1, cache: false } },
    webDir: false,
  });
});
after(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

async function extras(body: Record<string, unknown>) {
  return app.inject({ method: "POST", url: "/sdapi/v1/extra-single-image", payload: body });
}

function decodeResult(json: { image: string }) {
  return decodePng(Buffer.from(json.image, "base64"));
}

const input = { width, height, data: pixels };

describe("GET /sdapi/v1/upscalers", () => {
  it("lists None, Lanczos, Nearest and the readable models below the folder, A1111's shape", async () => {
    const r = await app.inject({ method: "GET", url: "/sdapi/v1/upscalers" });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), [
      { name: "None", model_name: null, model_path: null, model_url: null, scale: 4 },
      { name: "Lanczos", model_name: null, model_path: null, model_url: null, scale: 4 },
      { name: "Nearest", model_name: null, model_path: null, model_url: null, scale: 4 },
      { name: "4x-Tiny", model_name: "ESRGAN_4x", model_path: rrdbPath, model_url: null, scale: 4 },
      {
        name: "realesr-tiny-x2",
        model_name: "RealESRGAN",
        model_path: join(upscalersDir, "sub", "realesr-tiny-x2.safetensors"),
        model_url: null,
        scale: 2,
      },
    ]);
  });
});

describe("POST /sdapi/v1/extra-single-image", () => {
  it("a model by factor 2: the library's pixels, parameters kept, postprocessing infotext", async () => {
    const r = await extras({ image: imageBase64, upscaler_1: "4x-Tiny", upscaling_resize: 2 });
    assert.equal(r.statusCode, 200, r.body);
    const json = r.json();
    const info = "Postprocess upscale by: 2, Postprocess upscaler: 4x-Tiny";
    assert.equal(json.html_info, `<p>${info}</p>`);
    const png = decodeResult(json);
    assert.deepEqual([png.width, png.height], [48, 32]);
    assert.equal(png.text.parameters, parameters);
    assert.equal(png.text.postprocessing, info);
    const upscaler = ModelUpscaler.open(rrdbPath, { runtime: onnxruntimeNode(), cache: false });
    try {
      assert.deepEqual(png.data, (await upscaleBy(upscaler, input, 2)).data);
    } finally {
      await upscaler.close();
    }
  });

  it("resize_mode 1: to width x height, centre-cropped (and not), by name case-insensitively", async () => {
    const r = await extras({
      image: `data:image/png;base64,${imageBase64}`,
      resize_mode: 1,
      upscaling_resize_w: 40,
      upscaling_resize_h: 40,
      upscaler_1: "nearest",
    });
    assert.equal(r.statusCode, 200, r.body);
    const json = r.json();
    assert.equal(
      json.html_info,
      "<p>Postprocess upscale to: 40x40, Postprocess crop to: 40x40, Postprocess upscaler: Nearest</p>",
    );
    const png = decodeResult(json);
    assert.deepEqual([png.width, png.height], [40, 40]);
    // factor 2.5: Nearest gives 60x40, A1111 resizes that to 56x40 (a multiple of 8) with Lanczos,
    // then pastes it centred on the 40x40 canvas (offset 20 - 28 = -8)
    const full = resizeRgb(resizeNearestRgb(input, 60, 40), 56, 40, "lanczos");
    for (const [x, y] of [
      [0, 0],
      [39, 39],
      [20, 7],
    ]) {
      const a = (y * 40 + x) * 3;
      const b = (y * 56 + x + 8) * 3;
      assert.deepEqual([...png.data.subarray(a, a + 3)], [...full.data.subarray(b, b + 3)], `${x},${y}`);
    }
    const uncropped = await extras({
      image: imageBase64,
      resize_mode: 1,
      upscaling_resize_w: 40,
      upscaling_resize_h: 40,
      upscaling_crop: false,
      upscaler_1: "Lanczos",
    });
    assert.equal(uncropped.statusCode, 200, uncropped.body);
    const png2 = decodeResult(uncropped.json());
    assert.deepEqual([png2.width, png2.height], [56, 40]); // 60 rounded down to a multiple of 8
    assert.deepEqual(png2.data, resizeRgb(resizeRgb(input, 60, 40, "lanczos"), 56, 40, "lanczos").data);
  });

  it("a second upscaler is blended in with its visibility", async () => {
    const r = await extras({
      image: imageBase64,
      upscaler_1: "Lanczos",
      upscaler_2: "Nearest",
      extras_upscaler_2_visibility: 0.3,
      upscaling_resize: 2,
    });
    assert.equal(r.statusCode, 200, r.body);
    assert.match(r.json().html_info, /Postprocess upscaler: Lanczos, Postprocess upscaler 2: Nearest/);
    const expected = blendImages(
      await upscaleBy(classicUpscaler("Lanczos") as Upscaler, input, 2),
      await upscaleBy(classicUpscaler("Nearest") as Upscaler, input, 2),
      0.3,
    );
    assert.deepEqual(decodeResult(r.json()).data, expected.data);
  });

  it('upscaler_1 "None" returns the image as it is (A1111)', async () => {
    const r = await extras({ image: imageBase64 });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json().html_info, "<p></p>");
    const png = decodeResult(r.json());
    assert.deepEqual(png.data, pixels);
    assert.equal(png.text.parameters, parameters);
  });

  it("runs as a queued job: a full queue refuses with 429", async () => {
    const ctx = app.sdlite.context;
    // fill the queue with jobs that wait on a gate
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const blockers = Array.from({ length: ctx.queue.capacity + 1 }, () =>
      ctx.submitTask({
        kind: "blocker",
        run: () => gate.then(() => ({ kind: "unload-model", title: "" }) as const),
      }),
    );
    try {
      const r = await extras({ image: imageBase64, upscaler_1: "Lanczos" });
      assert.equal(r.statusCode, 429, r.body);
      assert.match(r.json().detail, /queue is full/);
    } finally {
      open();
      await Promise.all(blockers.map((b) => b.finished));
    }
  });

  it("refuses bad input with a 4xx naming the field", async () => {
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [
        { image: imageBase64, upscaler_1: "SwinIR" },
        422,
        /upscaler_1: no upscaler named "SwinIR"; available: None, Lanczos, Nearest, 4x-Tiny/,
      ],
      [{ image: imageBase64, upscaler_1: "broken" }, 422, /upscaler_1: .*broken\.pth/],
      [{ upscaler_1: "Lanczos" }, 422, /image is required/],
      [{ image: "data:image/png;base64,@@@", upscaler_1: "Lanczos" }, 422, /image is not valid base64/],
      [
        { image: Buffer.from("GIF89a....").toString("base64"), upscaler_1: "Lanczos" },
        422,
        /expected a PNG or JPEG image, got a GIF image/,
      ],
      [
        { image: imageBase64, upscaler_1: "Lanczos", upscaling_resize: 9 },
        422,
        /upscaling_resize must be a number from 1 to 8/,
      ],
      [{ image: imageBase64, upscaler_1: "Lanczos", resize_mode: 2 }, 422, /resize_mode must be 0/],
      [{ image: imageBase64, upscaler_1: "Lanczos", gfpgan_visibility: 0.5 }, 422, /face restoration/],
      [{ image: imageBase64, upscaler_1: "Lanczos", upscaling_resize: "big" }, 422, /upscaling_resize/],
      [
        {
          image: imageBase64,
          upscaler_1: "Lanczos",
          resize_mode: 1,
          upscaling_resize_w: 8192,
          upscaling_resize_h: 8192,
        },
        422,
        /more than the 8192x8192/,
      ],
      [
        { image: imageBase64, upscaler_1: "Lanczos", extras_upscaler_2_visibility: 2 },
        422,
        /extras_upscaler_2_visibility/,
      ],
    ];
    for (const [body, status, pattern] of cases) {
      const r = await extras(body);
      assert.equal(r.statusCode, status, `${JSON.stringify(body).slice(0, 80)}: ${r.body}`);
      assert.match(r.json().detail, pattern);
    }
  });
});

describe("POST /sdapi/v1/extra-batch-images", () => {
  it("each image of imageList as extra-single-image makes it, in order, one job", async () => {
    const other = Uint8Array.from({ length: 8 * 8 * 3 }, (_, i) => (i * 13) % 256);
    const otherBase64 = Buffer.from(encodePng({ width: 8, height: 8, channels: 3, data: other })).toString(
      "base64",
    );
    const settings = { upscaler_1: "realesr-tiny-x2", upscaling_resize: 2 };
    const r = await app.inject({
      method: "POST",
      url: "/sdapi/v1/extra-batch-images",
      payload: {
        ...settings,
        imageList: [
          { data: imageBase64, name: "boat.png" },
          { data: `data:image/png;base64,${otherBase64}`, name: "other.png" },
        ],
      },
    });
    assert.equal(r.statusCode, 200, r.body);
    const json = r.json() as { html_info: string; images: string[] };
    assert.equal(json.images.length, 2);
    for (const [i, image] of [imageBase64, otherBase64].entries()) {
      const single = await extras({ ...settings, image });
      assert.equal(single.statusCode, 200, single.body);
      assert.equal(json.images[i], single.json().image, `image ${i} as extra-single-image makes it`);
    }
    assert.equal(json.html_info, "<p>Postprocess upscale by: 2, Postprocess upscaler: realesr-tiny-x2</p>");
    assert.equal(decodePng(Buffer.from(json.images[0], "base64")).text.parameters, parameters);
  });

  it("refuses a missing or bad imageList, naming the image", async () => {
    const post = (payload: Record<string, unknown>) =>
      app.inject({ method: "POST", url: "/sdapi/v1/extra-batch-images", payload });
    for (const [payload, message] of [
      [{ upscaler_1: "Lanczos" }, /imageList is required/],
      [{ imageList: [] }, /imageList is required/],
      [{ imageList: ["x"] }, /imageList\/0 must be object/],
      [
        {
          imageList: [
            { data: imageBase64, name: "a" },
            { data: "not base64!", name: "b.png" },
          ],
        },
        /imageList\[1\] \(b\.png\)/,
      ],
      [{ imageList: [{ data: imageBase64 }], upscaler_1: "4x-Missing" }, /no upscaler named/],
    ] as const) {
      const r = await post(payload);
      assert.ok(
        r.statusCode >= 400 && r.statusCode < 500,
        `${JSON.stringify(payload).slice(0, 60)}: ${r.statusCode}`,
      );
      assert.match(r.json().detail, message);
    }
  });
});
