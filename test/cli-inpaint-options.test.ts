/**
 * `sdlite generate`'s A1111 inpainting and outpainting options: how --outpaint and
 * --inpainting-fill are read, the settings the job gets (A1111's img2img-tab defaults, fill for
 * outpainting), and one-line errors (exit 1) for what cannot work.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { inpaintSettings, parseMaskedContent, parseOutpaintArg } from "../src/cli/inpaint-options.js";
import { InvalidRequestError } from "../src/pipeline/request.js";
import { fixturePath } from "./helpers/fixtures.js";
import { describeRun, runSdlite } from "./helpers/sdlite-cli.js";

describe("reading the options", () => {
  test("--outpaint: sides and pixels, case and spaces forgiven, a side twice adds up", () => {
    assert.deepEqual(parseOutpaintArg("left:128,down:64"), { left: 128, right: 0, up: 0, down: 64 });
    assert.deepEqual(parseOutpaintArg(" Right : 8 , right:8"), { left: 0, right: 16, up: 0, down: 0 });
    for (const bad of ["left128", "sideways:8", "left:-8", "left:8px", "", "left:0"]) {
      assert.throws(() => parseOutpaintArg(bad), InvalidRequestError, bad);
    }
  });

  test("--inpainting-fill: names, A1111's words and indexes", () => {
    assert.equal(parseMaskedContent("fill"), "fill");
    assert.equal(parseMaskedContent("latent noise"), "latent-noise");
    assert.equal(parseMaskedContent("Latent_Nothing"), "latent-nothing");
    assert.equal(parseMaskedContent("1"), "original");
    assert.throws(() => parseMaskedContent("4"), /use fill, original, latent-noise or latent-nothing/);
  });

  test("settings: none without the options; A1111's tab defaults; fill for outpainting", () => {
    assert.equal(inpaintSettings({}), undefined);
    assert.deepEqual(inpaintSettings({ maskBlur: 8 }), {
      maskBlurX: 8,
      maskBlurY: 8,
      maskedContent: "original",
      fullRes: false,
      fullResPadding: 32,
      invertMask: false,
    });
    assert.equal(inpaintSettings({ outpaint: "left:8" })?.maskedContent, "fill");
    assert.deepEqual(
      inpaintSettings({ inpaintFullRes: true, inpaintPadding: 0, invertMask: true, inpaintingFill: "3" }),
      {
        maskBlurX: 4,
        maskBlurY: 4,
        maskedContent: "latent-nothing",
        fullRes: true,
        fullResPadding: 0,
        invertMask: true,
      },
    );
    assert.throws(() => inpaintSettings({ maskBlur: 65 }), /mask blur\) must be an integer from 0 to 64/);
  });
});

describe("one-line errors", () => {
  const model = fixturePath("models", "tiny-sd15");
  const init = fixturePath("pipelines", "inpaint_ddim_8_init.png");
  for (const [args, pattern] of [
    [["--outpaint", "left:64"], /need --init-image/],
    [["--init-image", init, "--mask-blur", "4"], /need --mask \(or --outpaint\)/],
    [["--init-image", init, "--outpaint", "north:64"], /--outpaint "north:64": write sides and pixels/],
    [["--init-image", init, "--outpaint", "left:8", "--inpainting-fill", "blur"], /--inpainting-fill "blur"/],
  ] as const) {
    test(args.join(" "), async () => {
      const run = await runSdlite(["generate", "a beach", "-m", model, "--steps", "1", ...args]);
      assert.equal(run.status, 1, describeRun(run));
      const lines = run.stderr.trim().split("\n");
      assert.equal(lines.length, 1, describeRun(run));
      assert.match(lines[0], pattern);
    });
  }
});
