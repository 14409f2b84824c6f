import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  configKind,
  parseTaesdConfig,
  parseTextEncoderConfig,
  parseUNetConfig,
  parseVaeConfig,
} from "../src/weights/architecture/diffusers-config.js";
import { SD15_TEXT_ENCODER, SD15_UNET, SD21_UNET } from "../src/weights/architecture/model-config.js";
import { fixturePath } from "./helpers/fixtures.js";

const read = (path: string) => JSON.parse(readFileSync(fixturePath(path), "utf-8"));

describe("diffusers config parsing", () => {
  it("reads the tiny model's UNet, text encoder, VAE and TAESD configs", () => {
    const unetJson = read("models/tiny-sd15/unet/config.json");
    assert.equal(configKind(unetJson), "unet");
    assert.deepEqual(parseUNetConfig(unetJson), {
      ...SD15_UNET,
      blockOutChannels: [8, 16, 32, 32],
      crossAttentionDim: 32,
      normNumGroups: 4,
    });
    assert.equal(parseUNetConfig(read("models/tiny-sd15-inpaint/unet/config.json")).inChannels, 9);
    const te = read("models/tiny-sd15/text_encoder/config.json");
    assert.equal(configKind(te), "text_encoder");
    assert.deepEqual(parseTextEncoderConfig(te), {
      ...SD15_TEXT_ENCODER,
      hiddenSize: 32,
      intermediateSize: 37,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
    });
    const vae = parseVaeConfig(read("models/tiny-sd15/vae/config.json"));
    assert.deepEqual(vae.blockOutChannels, [8, 16, 32, 32]);
    assert.equal(vae.normNumGroups, 4);
    assert.equal(vae.layersPerBlock, 2);
    const taesdJson = read("models/tiny-taesd/config.json");
    assert.equal(configKind(taesdJson), "taesd");
    const taesd = parseTaesdConfig(taesdJson);
    assert.deepEqual(taesd.encoderBlockOutChannels, [16, 16, 16, 16]);
    assert.deepEqual(taesd.numDecoderBlocks, [3, 3, 3, 1]);
    assert.equal(taesd.latentMagnitude, 3);
  });

  it("SD 2.x: per-block head counts (the historic attention_head_dim) stay a list; equal ones are one count", () => {
    const sd21 = parseUNetConfig({
      cross_attention_dim: 1024,
      attention_head_dim: [5, 10, 20, 20],
      use_linear_projection: true,
      upcast_attention: true,
    });
    assert.deepEqual(sd21, SD21_UNET);
    assert.equal(parseUNetConfig({ attention_head_dim: [8, 8, 8, 8] }).attentionHeads, 8);
    assert.throws(
      () =>
        parseUNetConfig({ block_out_channels: [320, 640, 1280, 1280], attention_head_dim: [5, 10, 20, 30] }),
      /block width 1280 is not divisible by 30 heads/,
    );
  });

  it("fills missing keys with the diffusers class defaults", () => {
    const unet = parseUNetConfig({ cross_attention_dim: 768 });
    assert.deepEqual(unet, SD15_UNET);
  });

  it("refuses UNet features it does not build, naming the key", () => {
    assert.throws(
      () => parseUNetConfig({ class_embed_type: "timestep" }),
      /"class_embed_type": "timestep" is not supported/,
    );
    assert.throws(
      () => parseUNetConfig({ attention_head_dim: [5, 10, 20] }),
      /3 head counts \[5,10,20\] for 4 blocks/,
    );
    assert.throws(
      () => parseUNetConfig({ attention_head_dim: [5, 10, 20, 0] }),
      /must be positive whole numbers/,
    );
    assert.throws(
      () => parseTextEncoderConfig({ hidden_act: "relu" }),
      /"hidden_act": "relu" is not supported/,
    );
    assert.throws(() => parseUNetConfig({ layers_per_block: "two" }), /"layers_per_block" must be a number/);
  });
});
