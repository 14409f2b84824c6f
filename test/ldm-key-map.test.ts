import assert from "node:assert/strict";
import { test } from "node:test";
import { SD15_TEXT_ENCODER, SD15_UNET, SD15_VAE } from "../src/weights/architecture/model-config.js";
import { SafetensorsFile } from "../src/weights/formats/safetensors.js";
import {
  ldmCheckpointKeys,
  type TensorMapping,
  textEncoderTensorMap,
  unetTensorMap,
  vaeTensorMap,
} from "../src/weights/key-maps/ldm-key-map.js";
import { numelOf } from "../src/weights/key-maps/tensor-mapping.js";
import { fixturePath } from "./helpers/fixtures.js";
import { TINY_SD15 } from "./helpers/tiny-configs.js";

/** Names and shapes the map promises vs what a real file holds, both directions. */
function assertSameTensors(label: string, path: string, expected: Map<string, readonly number[]>): void {
  const file = SafetensorsFile.open(path);
  try {
    const missing = [...expected.keys()].filter((k) => !file.has(k));
    const extra = file.names().filter((k) => !expected.has(k));
    assert.deepEqual(missing, [], `${label}: tensors the map lists but the file lacks`);
    assert.deepEqual(extra, [], `${label}: tensors in the file the map does not list`);
    for (const [name, shape] of expected) {
      assert.deepEqual(file.info(name).shape, shape, `${label}: shape of ${name}`);
    }
  } finally {
    file.close();
  }
}

const canonical = (maps: TensorMapping[]) => new Map(maps.map((m) => [m.canonical, m.shape]));

test("generated UNet/VAE/CLIP maps list exactly the tensors of the tiny diffusers folders", () => {
  const dir = fixturePath("models", "tiny-sd15");
  assertSameTensors(
    "unet",
    `${dir}/unet/diffusion_pytorch_model.safetensors`,
    canonical(unetTensorMap(TINY_SD15.unet)),
  );
  assertSameTensors(
    "inpaint unet",
    fixturePath("models", "tiny-sd15-inpaint", "unet", "diffusion_pytorch_model.safetensors"),
    canonical(unetTensorMap({ ...TINY_SD15.unet, inChannels: 9 })),
  );
  assertSameTensors(
    "vae",
    `${dir}/vae/diffusion_pytorch_model.safetensors`,
    canonical(vaeTensorMap(TINY_SD15.vae)),
  );
  assertSameTensors(
    "text encoder",
    `${dir}/text_encoder/model.safetensors`,
    canonical(textEncoderTensorMap(TINY_SD15.textEncoder)),
  );
});

test("generated LDM keys list exactly the 970 tensors of both tiny single files", () => {
  const keys = ldmCheckpointKeys(TINY_SD15);
  assert.equal(keys.length, 970);
  const expected = new Map(keys.map((k) => [k.key, k.mapping.ldmShape]));
  assertSameTensors("fp16 single file", fixturePath("single_file", "tiny-sd15-fp16.safetensors"), expected);
  const inpaint = ldmCheckpointKeys({ ...TINY_SD15, unet: { ...TINY_SD15.unet, inChannels: 9 } });
  assertSameTensors(
    "inpainting single file",
    fixturePath("single_file", "tiny-sd15-inpainting-fp16.safetensors"),
    new Map(inpaint.map((k) => [k.key, k.mapping.ldmShape])),
  );
});

test("SD1.5-size maps have SD1.5's tensor and parameter counts", () => {
  const count = (maps: TensorMapping[]) => maps.reduce((n, m) => n + numelOf(m.shape), 0);
  const unet = unetTensorMap(SD15_UNET);
  const vae = vaeTensorMap(SD15_VAE);
  const clip = textEncoderTensorMap(SD15_TEXT_ENCODER);
  assert.equal(unet.length, 686);
  assert.equal(vae.length, 248);
  assert.equal(clip.length, 196);
  // published parameter counts of runwayml/stable-diffusion-v1-5's modules
  assert.equal(count(unet), 859_520_964);
  assert.equal(count(vae), 83_653_863);
  assert.equal(count(clip), 123_060_480);
});

test("only the VAE attention kernels change shape between layouts, never the element count", () => {
  for (const m of ldmCheckpointKeys(TINY_SD15).map((k) => k.mapping)) {
    assert.equal(numelOf(m.ldmShape), numelOf(m.shape), m.canonical);
    if (m.ldmShape.length !== m.shape.length) {
      assert.match(m.canonical, /mid_block\.attentions\.0\.to_(q|k|v|out\.0)\.weight$/);
      assert.deepEqual(m.ldmShape, [...m.shape, 1, 1]);
    }
  }
  const ldmNames = new Set(ldmCheckpointKeys(TINY_SD15).map((k) => k.key));
  assert.equal(ldmNames.size, 970, "LDM names are unique");
});
