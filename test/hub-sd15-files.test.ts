/**
 * Which files of a diffusers SD1.5 repo to download. The listings are real: the
 * stable-diffusion-v1-5 repo's main branch (as published on the hub) and the fixture folders.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { describe, test } from "node:test";
import { classifyWeightFile, selectSd15Files } from "../src/hub/sd15-files.js";
import { fixturePath } from "./helpers/fixtures.js";

const SD15_MAIN = [
  ".gitattributes",
  "README.md",
  "feature_extractor/preprocessor_config.json",
  "model_index.json",
  "safety_checker/config.json",
  "safety_checker/model.fp16.safetensors",
  "safety_checker/model.safetensors",
  "safety_checker/pytorch_model.bin",
  "safety_checker/pytorch_model.fp16.bin",
  "scheduler/scheduler_config.json",
  "text_encoder/config.json",
  "text_encoder/model.fp16.safetensors",
  "text_encoder/model.safetensors",
  "text_encoder/pytorch_model.bin",
  "text_encoder/pytorch_model.fp16.bin",
  "tokenizer/merges.txt",
  "tokenizer/special_tokens_map.json",
  "tokenizer/tokenizer_config.json",
  "tokenizer/vocab.json",
  "unet/config.json",
  "unet/diffusion_pytorch_model.bin",
  "unet/diffusion_pytorch_model.fp16.bin",
  "unet/diffusion_pytorch_model.fp16.safetensors",
  "unet/diffusion_pytorch_model.non_ema.bin",
  "unet/diffusion_pytorch_model.non_ema.safetensors",
  "unet/diffusion_pytorch_model.safetensors",
  "v1-5-pruned-emaonly.ckpt",
  "v1-5-pruned-emaonly.safetensors",
  "v1-5-pruned.ckpt",
  "v1-5-pruned.safetensors",
  "v1-inference.yaml",
  "vae/config.json",
  "vae/diffusion_flax_model.msgpack",
  "vae/diffusion_pytorch_model.bin",
  "vae/diffusion_pytorch_model.fp16.bin",
  "vae/diffusion_pytorch_model.fp16.safetensors",
  "vae/diffusion_pytorch_model.safetensors",
];

const CONFIGS = [
  "model_index.json",
  "scheduler/scheduler_config.json",
  "text_encoder/config.json",
  "tokenizer/merges.txt",
  "tokenizer/special_tokens_map.json",
  "tokenizer/tokenizer_config.json",
  "tokenizer/vocab.json",
  "unet/config.json",
  "vae/config.json",
];

function listFolder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) =>
      relative(dir, join(e.parentPath ?? e.path, e.name))
        .split(sep)
        .join("/"),
    );
}

const sorted = (xs: readonly string[]) => [...xs].sort();

describe("selectSd15Files", () => {
  test("default: configs + plain safetensors; no safety checker, root checkpoints, .bin, EMA or flax", () => {
    const { files, componentsWithoutWeights } = selectSd15Files(SD15_MAIN);
    assert.deepEqual(
      sorted(files),
      sorted([
        ...CONFIGS,
        "text_encoder/model.safetensors",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
      ]),
    );
    assert.deepEqual(componentsWithoutWeights, []);
  });

  test("fp16: the fp16 safetensors variant of each component", () => {
    const { files } = selectSd15Files(SD15_MAIN, { fp16: true });
    assert.deepEqual(
      sorted(files),
      sorted([
        ...CONFIGS,
        "text_encoder/model.fp16.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors",
      ]),
    );
  });

  test("fp16 falls back to the plain weights of a component that has no fp16 variant", () => {
    const listing = SD15_MAIN.filter((p) => p !== "vae/diffusion_pytorch_model.fp16.safetensors");
    const { files } = selectSd15Files(listing, { fp16: true });
    assert.ok(files.includes("vae/diffusion_pytorch_model.safetensors"), String(files));
    assert.ok(
      !files.some((f) => f.startsWith("vae/") && f.endsWith(".bin")),
      "safetensors beat an fp16 .bin",
    );
  });

  test(".bin only where a component has no safetensors", () => {
    const listing = SD15_MAIN.filter((p) => !(p.startsWith("unet/") && p.endsWith(".safetensors")));
    const { files } = selectSd15Files(listing);
    assert.deepEqual(
      files.filter((f) => f.startsWith("unet/")),
      ["unet/config.json", "unet/diffusion_pytorch_model.bin"],
    );
    assert.ok(files.includes("vae/diffusion_pytorch_model.safetensors"));
  });

  test("safetyChecker and flax when asked", () => {
    const { files } = selectSd15Files(SD15_MAIN, { safetyChecker: true, flax: true });
    for (const f of [
      "safety_checker/config.json",
      "safety_checker/model.safetensors",
      "feature_extractor/preprocessor_config.json",
      "vae/diffusion_flax_model.msgpack",
    ]) {
      assert.ok(files.includes(f), `${f} missing from ${files}`);
    }
    assert.ok(!files.includes("safety_checker/pytorch_model.bin"));
  });

  test("sharded weights come as index + shards of the chosen variant", () => {
    const listing = [
      "model_index.json",
      "unet/config.json",
      "unet/diffusion_pytorch_model.safetensors.index.json",
      "unet/diffusion_pytorch_model-00001-of-00002.safetensors",
      "unet/diffusion_pytorch_model-00002-of-00002.safetensors",
      "unet/diffusion_pytorch_model.safetensors.index.fp16.json",
      "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
      "unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors",
    ];
    assert.deepEqual(sorted(selectSd15Files(listing).files), sorted(listing.slice(0, 5)));
    assert.deepEqual(
      sorted(selectSd15Files(listing, { fp16: true }).files),
      sorted([...listing.slice(0, 2), ...listing.slice(5)]),
    );
  });

  test("an ONNX pipeline (fixture tiny-sd15-onnx): no weights unless asked, then model.onnx + external data", () => {
    const listing = listFolder(fixturePath("models", "tiny-sd15-onnx"));
    const plain = selectSd15Files(listing);
    assert.deepEqual(sorted(plain.componentsWithoutWeights), [
      "text_encoder",
      "unet",
      "vae_decoder",
      "vae_encoder",
    ]);
    const onnx = selectSd15Files(listing, { onnx: true });
    assert.deepEqual(sorted(onnx.files), sorted(listing), "every file of the ONNX folder is needed");
    assert.deepEqual(onnx.componentsWithoutWeights, []);
  });

  test("the fixture diffusers folder (tiny-sd15) is selected whole", () => {
    const listing = listFolder(fixturePath("models", "tiny-sd15"));
    assert.deepEqual(sorted(selectSd15Files(listing).files), sorted(listing));
  });

  test("model_index.json decides the components when given", () => {
    const modelIndex = {
      _class_name: "StableDiffusionPipeline",
      unet: ["diffusers", "UNet2DConditionModel"],
      vae: [null, null],
    };
    const { files } = selectSd15Files(SD15_MAIN, { modelIndex });
    assert.deepEqual(sorted(files), [
      "model_index.json",
      "unet/config.json",
      "unet/diffusion_pytorch_model.safetensors",
    ]);
  });

  test("a repo without model_index.json is refused", () => {
    assert.throws(() => selectSd15Files(["v1-5-pruned-emaonly.safetensors"]), /no model_index\.json/);
  });

  test("classifyWeightFile reads format and variant from names", () => {
    const cases: Array<[string, string | undefined, string | undefined]> = [
      ["unet/diffusion_pytorch_model.safetensors", "safetensors", ""],
      ["unet/diffusion_pytorch_model.fp16.safetensors", "safetensors", "fp16"],
      ["unet/diffusion_pytorch_model.non_ema.bin", "bin", "non_ema"],
      ["unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors", "safetensors", "fp16"],
      ["unet/diffusion_pytorch_model-00001-of-00002.safetensors", "safetensors", ""],
      ["unet/diffusion_pytorch_model.safetensors.index.fp16.json", "safetensors", "fp16"],
      ["vae/diffusion_flax_model.msgpack", "flax", ""],
      ["unet/model.onnx", "onnx", ""],
      ["unet/weights.pb", "onnx", ""],
      ["unet/model.onnx_data", "onnx", ""],
      ["unet/config.json", undefined, undefined],
    ];
    for (const [path, format, variant] of cases) {
      const got = classifyWeightFile(path);
      assert.deepEqual([got?.format, got?.variant], [format, variant], path);
    }
  });
});
