/**
 * The pure parts of the web UI's "This device" mode, in Node: the incremental SHA-256 that checks
 * downloads (against node:crypto), which file of a hub repo is downloaded, the graph cache's LRU
 * eviction, the capability line's words, telling a checkpoint from a LoRA or an embedding by its
 * header.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { chooseBackend, describeSupport } from "../web/src/local/capability-line.js";
import {
  downloadTarget,
  listingUrl,
  parseListing,
  parseRepoInput,
  pickCheckpoint,
} from "../web/src/local/hub-checkpoint.js";
import { keysToEvict } from "../web/src/local/lru-eviction.js";
import {
  isEmbeddingHeader,
  kindFromTensorNames,
  safetensorsKind,
} from "../web/src/local/safetensors-kind.js";
import { Sha256 } from "../web/src/local/sha256.js";

describe("Sha256 (incremental, for downloads too large for one buffer)", () => {
  it("equals node:crypto for lengths around the padding boundaries and any split into updates", () => {
    for (const length of [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 100_003]) {
      const data = randomBytes(length);
      const expected = createHash("sha256").update(data).digest("hex");
      assert.equal(new Sha256().update(data).hex(), expected, `one update, ${length} bytes`);
      const hash = new Sha256();
      let at = 0;
      for (const step of [1, 7, 64, 3, 200, 63]) {
        if (at >= length) break;
        hash.update(data.subarray(at, at + step));
        at += step;
      }
      hash.update(data.subarray(at));
      assert.equal(hash.hex(), expected, `split updates, ${length} bytes`);
    }
  });
});

const SHA = "a".repeat(40);
const LFS = (size: number) => ({ sha256: "b".repeat(64), size, pointerSize: 134 });

describe("which hub file is downloaded", () => {
  it("reads repo ids, revisions and hub URLs", () => {
    assert.deepEqual(parseRepoInput(" org/name "), { repo: "org/name", revision: "main" });
    assert.deepEqual(parseRepoInput("org/name@v2", "sub/x.safetensors"), {
      repo: "org/name",
      revision: "v2",
      file: "sub/x.safetensors",
    });
    assert.deepEqual(parseRepoInput("https://huggingface.co/org/name/blob/fp16/model.safetensors?x=1"), {
      repo: "org/name",
      revision: "fp16",
      file: "model.safetensors",
    });
    assert.throws(() => parseRepoInput("just-a-name"), /not a Hugging Face repo id/);
    assert.throws(() => parseRepoInput("org/name", "../etc/passwd"), /not a file path/);
    assert.equal(
      listingUrl("http://127.0.0.1:9/", { repo: "org/name", revision: "refs/pr/1" }),
      "http://127.0.0.1:9/api/models/org/name/revision/refs%2Fpr%2F1?blobs=true",
    );
  });

  it("takes the root .safetensors checkpoint: fp16 first, then ema-only, then the smallest; a named file as named", () => {
    const listing = parseListing(
      {
        sha: SHA,
        siblings: [
          { rfilename: "README.md", size: 10 },
          { rfilename: "v1-5-pruned.safetensors", size: 7_700, lfs: LFS(7_700) },
          { rfilename: "v1-5-pruned-emaonly.safetensors", size: 4_200, lfs: LFS(4_200) },
          { rfilename: "v1-5-pruned-emaonly.fp16.safetensors", size: 2_100, lfs: LFS(2_100) },
          { rfilename: "unet/diffusion_pytorch_model.safetensors", size: 3_400, lfs: LFS(3_400) },
          { rfilename: "model.ckpt", size: 100 },
        ],
      },
      "org/sd",
    );
    const ref = parseRepoInput("org/sd");
    assert.equal(pickCheckpoint(listing, ref).path, "v1-5-pruned-emaonly.fp16.safetensors");
    const noFp16 = { ...listing, files: listing.files.filter((f) => !f.path.includes("fp16")) };
    assert.equal(pickCheckpoint(noFp16, ref).path, "v1-5-pruned-emaonly.safetensors");
    const named = pickCheckpoint(listing, parseRepoInput("org/sd", "v1-5-pruned.safetensors"));
    const target = downloadTarget("https://hub.test", ref, listing, named);
    assert.deepEqual(target, {
      repo: "org/sd",
      path: "v1-5-pruned.safetensors",
      commit: SHA,
      size: 7_700,
      sha256: "b".repeat(64),
      url: `https://hub.test/org/sd/resolve/${SHA}/v1-5-pruned.safetensors`,
    });
    assert.throws(
      () => pickCheckpoint(listing, parseRepoInput("org/sd", "nope.safetensors")),
      /has no file "nope/,
    );
  });

  it("a diffusers-only repo is refused with a hint to name the file", () => {
    const listing = parseListing(
      {
        sha: SHA,
        siblings: [
          { rfilename: "model_index.json" },
          { rfilename: "unet/diffusion_pytorch_model.safetensors" },
        ],
      },
      "org/diffusers",
    );
    assert.throws(
      () => pickCheckpoint(listing, parseRepoInput("org/diffusers")),
      /no single-file .*name the file/,
    );
    assert.throws(() => parseListing({ siblings: [] }, "org/x"), /no commit "sha"/);
  });
});

describe("graph cache eviction", () => {
  it("drops the least recently used graphs until the rest fits", () => {
    const entries = [
      { key: "a", bytes: 40, used: 3 },
      { key: "b", bytes: 30, used: 1 },
      { key: "c", bytes: 50, used: 2 },
    ];
    assert.deepEqual(keysToEvict(entries, 120), []);
    assert.deepEqual(keysToEvict(entries, 100), ["b"]);
    assert.deepEqual(keysToEvict(entries, 60), ["b", "c"]);
  });
});

describe("capability line", () => {
  it("names the adapter, shader-f16 and the limits; warns about the wasm CPU backend without WebGPU", () => {
    const ok = {
      ok: true,
      adapter: "NVIDIA RTX 4070",
      shaderF16: true,
      maxBufferSize: 4 * 1024 ** 3,
      maxStorageBufferBindingSize: 2 * 1024 ** 3 - 4,
      missing: [],
    };
    assert.deepEqual(describeSupport(ok), {
      capability: "WebGPU: NVIDIA RTX 4070 · shader-f16: yes · max buffer 4 GiB · max storage binding 2 GiB",
    });
    assert.equal(chooseBackend(ok), "webgpu");
    const small = {
      ...ok,
      ok: false,
      shaderF16: false,
      maxBufferSize: 256 * 1024 ** 2,
      missing: ["maxBufferSize ≥ 1 GiB"],
    };
    const said = describeSupport(small);
    assert.match(
      said.capability,
      /^WebGPU: not usable · shader-f16: no · max buffer 256 MiB · .* · missing: maxBufferSize ≥ 1 GiB$/,
    );
    assert.match(said.warning ?? "", /CPU \(wasm backend\)/);
    assert.equal(chooseBackend(small), "wasm");
  });
});

describe("checkpoint, LoRA or TAESD, from the .safetensors header", () => {
  it("tells them apart by tensor names and refuses what is not a .safetensors file", async () => {
    assert.equal(kindFromTensorNames(["model.diffusion_model.input_blocks.0.0.weight"]), "checkpoint");
    assert.equal(kindFromTensorNames(["lora_unet_down_blocks_0_attentions_0_proj_in.alpha"]), "lora");
    assert.equal(kindFromTensorNames(["unet.down_blocks.0.attentions.0.proj_in.lora_A.weight"]), "lora");
    assert.equal(kindFromTensorNames(["lora_te_text_model_encoder_layers_0_mlp_fc1.hada_w1_a"]), "lora");
    assert.equal(kindFromTensorNames(["encoder.conv_in.weight"]), "other");
    // TAESD: madebyollin's decoder (its first conv at 1, after the Clamp) and encoder, a whole module, diffusers'
    assert.equal(kindFromTensorNames(["1.weight", "1.bias", "3.conv.0.weight"]), "taesd");
    assert.equal(kindFromTensorNames(["0.weight", "0.bias", "2.conv.0.weight"]), "taesd");
    assert.equal(kindFromTensorNames(["encoder.0.weight", "decoder.1.weight"]), "taesd");
    assert.equal(kindFromTensorNames(["decoder.layers.0.weight", "decoder.layers.2.conv.0.weight"]), "taesd");
    assert.equal(kindFromTensorNames(["2.weight"]), "other");
    const header = Buffer.from(
      JSON.stringify({ "model.diffusion_model.x": { dtype: "F32", shape: [1], data_offsets: [0, 4] } }),
    );
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    assert.equal(await safetensorsKind(new Blob([length, header, Buffer.alloc(4)])), "checkpoint");
    await assert.rejects(
      safetensorsKind(new Blob([Buffer.from("hello world, not a model")])),
      /header length makes no sense/,
    );
  });
});

/** A .safetensors file's bytes with these tensors (F32 zeros) of these shapes. */
function safetensorsOf(shapes: Record<string, number[]>): Blob {
  let at = 0;
  const entries = Object.entries(shapes).map(([name, shape]) => {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    const entry = [name, { dtype: "F32", shape, data_offsets: [at, at + bytes] }] as const;
    at += bytes;
    return entry;
  });
  const header = Buffer.from(JSON.stringify(Object.fromEntries(entries)));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  return new Blob([length, header, Buffer.alloc(at)]);
}

describe("a textual-inversion embedding, from the .safetensors header", () => {
  it("one tensor of vectors (1-D or [vectors, width]), or SDXL's clip_g + clip_l; not a lone conv weight", async () => {
    assert.equal(await safetensorsKind(safetensorsOf({ emb_params: [2, 768] })), "embedding");
    assert.equal(await safetensorsKind(safetensorsOf({ "<cat-toy>": [768] })), "embedding");
    assert.equal(await safetensorsKind(safetensorsOf({ clip_g: [2, 1280], clip_l: [2, 768] })), "embedding");
    assert.equal(await safetensorsKind(safetensorsOf({ "encoder.conv_in.weight": [8, 3, 3, 3] })), "other");
    assert.equal(await safetensorsKind(safetensorsOf({ a: [1, 4], b: [1, 4] })), "other");
    assert.equal(isEmbeddingHeader({ emb_params: [] }), false, "a scalar holds no vector");
  });
});
