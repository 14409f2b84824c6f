/**
 * `sdlite upscale` as a child process: a tiny model file upscales a PNG (size, progress over tiles,
 * the input's parameters kept plus A1111's postprocess infotext, the output equal to the library's),
 * an existing output is never overwritten, Lanczos works without a model, bad input is refused.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { decodePng, encodePng } from "../src/image/png.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { ModelUpscaler } from "../src/upscale/model-upscaler.js";
import { upscaleBy } from "../src/upscale/upscale-by.js";
import { describeRun, runSdlite } from "./helpers/sdlite-cli.js";
import { tinyRrdbWeights, writeTinyPth } from "./helpers/tiny-upscalers.js";

const dir = mkdtempSync(join(tmpdir(), "sdlite-cli-upscale-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { SDLITE_CACHE: join(dir, "cache") };

const width = 40;
const height = 24;
const pixels = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 13 + (i >> 7)) % 256);
const input = join(dir, "in.png");
const parameters = "a lighthouse\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 40x24";
writeFileSync(input, encodePng({ width, height, channels: 3, data: pixels }, { parameters }));
const model = join(dir, "RealESRGAN_tiny.pth");
writeTinyPth(model, tinyRrdbWeights({ blocks: 1, features: 8, growth: 4, upsamples: 2, unshuffle: 1 }, 9));

describe("sdlite upscale", () => {
  it("upscales with a model file in tiles, keeps parameters, adds the postprocess infotext", async () => {
    const out = join(dir, "big.png");
    const run = await runSdlite(
      ["upscale", input, "-u", model, "--scale", "2", "-o", out, "--tile", "16"],
      env,
    );
    assert.equal(run.status, 0, describeRun(run));
    assert.equal(run.stdout.trim(), out);
    assert.match(run.stderr, /tile 1\/6 \(pass 1\)/);
    assert.match(run.stderr, /tile 6\/6 \(pass 1\)/);
    const png = decodePng(readFileSync(out));
    assert.deepEqual([png.width, png.height], [80, 48]);
    assert.equal(png.text.parameters, parameters);
    const info = "Postprocess upscale by: 2, Postprocess upscaler: RealESRGAN_tiny";
    assert.equal(png.text.postprocessing, info);
    assert.equal(png.text.extras, info);
    // the same pixels as the library call
    const upscaler = ModelUpscaler.open(model, { runtime: onnxruntimeNode(), cache: false, tile: 16 });
    try {
      const expected = await upscaleBy(upscaler, { width, height, data: pixels }, 2);
      assert.deepEqual(png.data, expected.data);
    } finally {
      await upscaler.close();
    }
  });

  it("never overwrites: a second run writes name-1.png; Lanczos needs no model", async () => {
    const out = join(dir, "lanczos.png");
    const first = await runSdlite(["upscale", input, "-u", "Lanczos", "-o", out], env);
    assert.equal(first.status, 0, describeRun(first));
    const before = readFileSync(out);
    const second = await runSdlite(
      ["upscale", input, "-u", "nearest", "--scale", "1.5", "-o", out, "--json"],
      env,
    );
    assert.equal(second.status, 0, describeRun(second));
    const summary = JSON.parse(second.stdout);
    assert.equal(summary.file, join(dir, "lanczos-1.png"));
    assert.deepEqual([summary.width, summary.height, summary.upscaler], [56, 32, "Nearest"]);
    assert.deepEqual(readFileSync(out), before);
    const png = decodePng(before);
    assert.deepEqual([png.width, png.height], [160, 96]);
    assert.equal(png.text.postprocessing, "Postprocess upscale by: 4, Postprocess upscaler: Lanczos");
  });

  it("refuses bad input with a message naming it", async () => {
    const cases: [string[], RegExp][] = [
      [
        ["upscale", input, "-u", "Bicubic"],
        /upscaler "Bicubic" is neither a weights file nor one of None, Lanczos, Nearest/,
      ],
      [["upscale", join(dir, "nope.png"), "-u", "Lanczos"], /no such file: .*nope\.png/],
      [["upscale", model, "-u", "Lanczos"], /is not a PNG file/],
      [["upscale", input, "-u", "Lanczos", "--scale", "0"], /--scale must be a positive number/],
      [["upscale", input, "-u", "None"], /-u None does not upscale/],
      [["upscale", input, "-u", input], /not an ESRGAN-family upscaler|not a readable safetensors file/],
    ];
    for (const [args, pattern] of cases) {
      const run = await runSdlite(args, env);
      assert.equal(run.status, 1, describeRun(run));
      assert.match(run.stderr, pattern, describeRun(run));
    }
  });
});
