/**
 * Textual-inversion embeddings as A1111 uses them: the file layouts it reads (.pt through the
 * restricted reader, .bin, .safetensors), the folder, how a prompt word becomes the embedding's
 * vectors in the 75-token windows (never split), and the text encoder: an embedding changes exactly
 * the input embeddings of the positions it names — the output equals the plain encoder's with
 * those token rows overwritten by the vectors. Then through generate() and `sdlite generate`,
 * with `TI hashes` in the infotext.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readEmbeddingFile } from "../src/embeddings/embedding-file.js";
import { EmbeddingFolder, readEmbeddingFolder } from "../src/embeddings/embedding-folder.js";
import { embeddingLookup, selectEmbeddings } from "../src/embeddings/embedding-lookup.js";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { buildTextEncoderGraph, TEXT_ENCODER_INPUT, TEXT_ENCODER_OUTPUT } from "../src/graph/text-encoder.js";
import { formatInfotext, parseInfotext } from "../src/image/infotext.js";
import { decodePng } from "../src/image/png.js";
import { generate } from "../src/pipeline/generate.js";
import { buildGenerationRecord } from "../src/pipeline/generation-record.js";
import { encodePrompt, WINDOW } from "../src/pipeline/prompt-encoder.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { type TokenEmbedding, tokenizeWeightedPrompt } from "../src/tokenizer/prompt-chunks.js";
import { parseTextEncoderConfig } from "../src/weights/architecture/diffusers-config.js";
import { writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { SafetensorsWeightSource } from "../src/weights/safetensors-weight-source.js";
import type { WeightSource } from "../src/weights/weight-source.js";
import { assertClose } from "./helpers/assert-close.js";
import { fixturePath } from "./helpers/fixtures.js";
import { describeRun, runSdlite } from "./helpers/sdlite-cli.js";
import { ParameterDict, type TorchTensor, writeTorchPickle } from "./helpers/torch-checkpoint-writer.js";

const HIDDEN = 32; // the tiny model's text encoder width
const TINY = fixturePath("models/tiny-sd15");
const work = mkdtempSync(join(tmpdir(), "sdlite-embeddings-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** Deterministic, clearly non-CLIP vectors: [vectors, width]. */
function vectors(count: number, width: number, seed: number): Float32Array {
  return Float32Array.from({ length: count * width }, (_, i) => Math.sin(seed * 131 + i * 0.37) * 2);
}

function torchTensor(name: string, data: Float32Array, shape: number[]): TorchTensor {
  return { name, dtype: "F32", shape, data: new Uint8Array(data.buffer.slice(0)) };
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

describe("embedding files", () => {
  const dir = join(work, "files");
  mkdirSync(dir, { recursive: true });

  it("A1111's .pt: string_to_param with its metadata", () => {
    const data = vectors(3, HIDDEN, 1);
    const path = join(dir, "mystyle.pt");
    writeTorchPickle(path, {
      string_to_token: { "*": 265 },
      string_to_param: { "*": torchTensor("*", data, [3, HIDDEN]) },
      name: "something-else",
      step: 1500,
      sd_checkpoint: "cc6cb27103",
      sd_checkpoint_name: "v1-5-pruned-emaonly",
    });
    const e = readEmbeddingFile(path);
    assert.equal(e.name, "mystyle", "named by its file, not the name stored inside");
    assert.deepEqual(
      [e.vectors, e.width, e.step, e.sdCheckpoint, e.sdCheckpointName],
      [3, HIDDEN, 1500, "cc6cb27103", "v1-5-pruned-emaonly"],
    );
    assert.deepEqual(e.data, data);
    assert.equal(e.sha256, sha256(path));
  });

  it("an older .pt whose string_to_param is a pickled ParameterDict of Parameters", () => {
    const data = vectors(2, HIDDEN, 2);
    const path = join(dir, "old-style.pt");
    writeTorchPickle(path, {
      string_to_param: new ParameterDict({ "*": torchTensor("*", data, [2, HIDDEN]) }),
      name: "old-style",
      step: null,
    });
    const e = readEmbeddingFile(path);
    assert.deepEqual([e.vectors, e.width, e.step], [2, HIDDEN, null]);
    assert.deepEqual(e.data, data);
  });

  it("diffusers' learned_embeds.bin (one 1-D tensor) and kohya's .safetensors (emb_params)", () => {
    const one = vectors(1, HIDDEN, 3);
    const bin = join(dir, "cat-toy.bin");
    writeTorchPickle(bin, { "<cat-toy>": torchTensor("<cat-toy>", one, [HIDDEN]) });
    const fromBin = readEmbeddingFile(bin);
    assert.deepEqual([fromBin.name, fromBin.vectors, fromBin.width], ["cat-toy", 1, HIDDEN]);
    assert.deepEqual(fromBin.data, one);

    const two = vectors(2, HIDDEN, 4);
    const st = join(dir, "kohya-style.safetensors");
    writeSafetensors(st, [{ name: "emb_params", dtype: "F32", shape: [2, HIDDEN], data: two }]);
    const fromSt = readEmbeddingFile(st);
    assert.deepEqual([fromSt.vectors, fromSt.width, fromSt.step], [2, HIDDEN, null]);
    assert.deepEqual(fromSt.data, two);
  });

  it("SDXL's clip_g + clip_l pair is read with A1111's shape (both widths), usable by no SD1.x model", () => {
    const path = join(dir, "sdxl.safetensors");
    writeSafetensors(path, [
      { name: "clip_g", dtype: "F32", shape: [2, 1280], data: new Float32Array(2 * 1280) },
      { name: "clip_l", dtype: "F32", shape: [2, 768], data: new Float32Array(2 * 768) },
    ]);
    const e = readEmbeddingFile(path);
    assert.deepEqual([e.vectors, e.width], [2, 2048]);
    assert.deepEqual(selectEmbeddings([e], 768).skipped, [e]);
  });

  it("refuses what is no embedding: two tensors, a raw pickle, a 3-D tensor", () => {
    const two = join(dir, "two.safetensors");
    writeSafetensors(two, [
      { name: "a", dtype: "F32", shape: [1, 4], data: new Float32Array(4) },
      { name: "b", dtype: "F32", shape: [1, 4], data: new Float32Array(4) },
    ]);
    assert.throws(() => readEmbeddingFile(two), /holds 2 tensors/);
    const raw = join(dir, "raw.pt");
    writeFileSync(raw, Uint8Array.of(0x80, 2, 0x7d, 0x2e));
    assert.throws(() => readEmbeddingFile(raw), /not a torch.save zip/);
    const cube = join(dir, "cube.safetensors");
    writeSafetensors(cube, [{ name: "x", dtype: "F32", shape: [1, 2, 4], data: new Float32Array(8) }]);
    assert.throws(() => readEmbeddingFile(cube), /shape \[1, 2, 4\]/);
  });
});

describe("the embeddings folder", () => {
  it("reads subfolders, sorts by name, reports bad files, passes over images; re-reads on change", () => {
    const dir = join(work, "folder");
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeSafetensors(join(dir, "sub", "Zeta.safetensors"), [
      { name: "emb_params", dtype: "F32", shape: [1, HIDDEN], data: vectors(1, HIDDEN, 5) },
    ]);
    writeSafetensors(join(dir, "alpha.safetensors"), [
      { name: "emb_params", dtype: "F32", shape: [1, HIDDEN], data: vectors(1, HIDDEN, 6) },
    ]);
    writeFileSync(join(dir, "broken.pt"), "not a pickle");
    writeFileSync(join(dir, "alpha.preview.png"), "an image");
    const contents = readEmbeddingFolder(dir);
    assert.deepEqual(
      contents.embeddings.map((e) => e.name),
      ["alpha", "Zeta"],
    );
    assert.deepEqual(
      contents.failures.map((f) => f.path),
      [join(dir, "broken.pt")],
    );
    assert.deepEqual(readEmbeddingFolder(join(work, "no-such-folder")), { embeddings: [], failures: [] });

    const folder = new EmbeddingFolder(dir);
    const first = folder.current();
    assert.equal(folder.current(), first, "unchanged files are not read again");
    writeSafetensors(join(dir, "beta.safetensors"), [
      { name: "emb_params", dtype: "F32", shape: [2, HIDDEN], data: vectors(2, HIDDEN, 7) },
    ]);
    assert.deepEqual(
      folder.current().embeddings.map((e) => e.name),
      ["alpha", "beta", "Zeta"],
    );
  });
});

let pipeline: OpenedPipeline;
before(async () => {
  pipeline = await openPipeline(TINY, { runtime: { cache: false, threads: 1 } });
});
after(async () => pipeline?.close());

const embedding = (name: string, count: number, seed: number): TokenEmbedding => ({
  name,
  vectors: count,
  data: vectors(count, HIDDEN, seed),
  sha256: createHash("sha256").update(name).digest("hex"),
});

describe("embeddings in the 75-token windows", () => {
  const mystyle = embedding("mystyle", 3, 8);
  const lookup = () => embeddingLookup([mystyle, embedding("my-long-name", 2, 9)], pipeline.models.tokenizer);
  const idsOf = (text: string) => pipeline.models.tokenizer.encode(text);

  it("the name's tokens give way to one position per vector, with the span's weight", () => {
    const { chunks, tokenCount } = tokenizeWeightedPrompt(
      "a photo of (mystyle:1.2) cat",
      pipeline.models.tokenizer,
      {
        embeddings: lookup(),
      },
    );
    assert.equal(chunks.length, 1);
    const [a, photo, of, cat] = ["a", "photo", "of", "cat"].map((w) => idsOf(w)[0]);
    assert.deepEqual(chunks[0].ids.slice(0, 9), [49406, a, photo, of, 0, 0, 0, cat, 49407]);
    assert.deepEqual(chunks[0].weights.slice(0, 9), [1, 1, 1, 1, 1.2, 1.2, 1.2, 1, 1]);
    assert.deepEqual(chunks[0].fixes, [{ offset: 4, embedding: mystyle }]);
    assert.equal(tokenCount, 7);
  });

  it("a name of several tokens is matched whole; a plain word that only starts like it is not", () => {
    assert.ok(idsOf("my-long-name").length > 1);
    const { chunks } = tokenizeWeightedPrompt("my-long-name my long", pipeline.models.tokenizer, {
      embeddings: lookup(),
    });
    assert.deepEqual(
      chunks[0].fixes?.map((f) => [f.offset, f.embedding.name]),
      [[1, "my-long-name"]],
    );
    assert.deepEqual(chunks[0].ids.slice(1, 5), [0, 0, ...idsOf("my long")]);
  });

  it("is never split: with 74 tokens in the window, a 3-vector embedding starts the next one", () => {
    const prompt = `${Array(74).fill("cat").join(" ")} mystyle dog`;
    const { chunks } = tokenizeWeightedPrompt(prompt, pipeline.models.tokenizer, { embeddings: lookup() });
    assert.equal(chunks.length, 2);
    assert.equal(chunks[0].fixes, undefined);
    assert.deepEqual(chunks[0].ids.slice(74, 77), [idsOf("cat")[0], 49407, 49407], "window 1 padded");
    assert.deepEqual(chunks[1].fixes, [{ offset: 1, embedding: mystyle }]);
    assert.deepEqual(chunks[1].ids.slice(0, 6), [49406, 0, 0, 0, idsOf("dog")[0], 49407]);
  });

  it("comma backtracking moves an embedding's positions on but leaves its vectors behind, as A1111 does", () => {
    // A1111's tokenize_line relocates chunk.tokens after the last comma, not chunk.fixes: the
    // vectors land on the closed window's padding and the moved positions stay id 0
    const prompt = `${Array(70).fill("cat").join(" ")}, mystyle dog bird`;
    const { chunks } = tokenizeWeightedPrompt(prompt, pipeline.models.tokenizer, { embeddings: lookup() });
    assert.equal(chunks.length, 2);
    assert.deepEqual(chunks[0].fixes, [{ offset: 72, embedding: mystyle }]);
    assert.deepEqual(chunks[0].ids.slice(70, 77), [
      idsOf("cat")[0],
      idsOf(",")[0],
      49407,
      49407,
      49407,
      49407,
      49407,
    ]);
    assert.equal(chunks[1].fixes, undefined);
    assert.deepEqual(chunks[1].ids.slice(0, 7), [49406, 0, 0, 0, idsOf("dog")[0], idsOf("bird")[0], 49407]);
  });

  it("without a lookup the name is ordinary text", () => {
    const { chunks } = tokenizeWeightedPrompt("mystyle", pipeline.models.tokenizer);
    assert.deepEqual(chunks[0].ids.slice(1, 1 + idsOf("mystyle").length), idsOf("mystyle"));
    assert.equal(chunks[0].fixes, undefined);
  });
});

/** The text encoder's weights with some token-embedding rows overwritten. */
function withTokenRows(weights: WeightSource, rows: Map<number, Float32Array>): WeightSource {
  const key = "text_model.embeddings.token_embedding.weight";
  return {
    names: () => weights.names(),
    has: (n) => weights.has(n),
    shape: (n) => weights.shape(n),
    get: (n) => {
      const t = weights.get(n);
      if (n !== key) return t;
      const copy = t.slice();
      for (const [id, v] of rows) copy.set(v, id * HIDDEN);
      return copy;
    },
  };
}

describe("the text encoder with an embedding", () => {
  it("changes exactly the positions it names: equal to the plain encoder with those token rows replaced", async () => {
    const mystyle = embedding("mystyle", 3, 10);
    const lookup = embeddingLookup([mystyle], pipeline.models.tokenizer);
    const prompt = "a photo of mystyle in a garden";
    const withEmbedding = await encodePrompt(
      prompt,
      pipeline.models.tokenizer,
      pipeline.models.textEncoder,
      1,
      lookup,
    );
    assert.deepEqual(withEmbedding.embeddings, [mystyle]);

    // the reference: an ordinary graph whose rows for three stand-in tokens are the vectors
    const { chunks } = tokenizeWeightedPrompt(prompt, pipeline.models.tokenizer, { embeddings: lookup });
    const standIns = [400, 401, 402];
    const ids = Int32Array.from(chunks[0].ids);
    standIns.forEach((id, k) => {
      ids[4 + k] = id;
    });
    const dir = join(TINY, "text_encoder");
    const config = parseTextEncoderConfig(JSON.parse(readFileSync(join(dir, "config.json"), "utf-8")));
    const weights = SafetensorsWeightSource.open(join(dir, "model.safetensors"));
    const rows = new Map(standIns.map((id, k) => [id, mystyle.data.subarray(k * HIDDEN, (k + 1) * HIDDEN)]));
    const graph = buildTextEncoderGraph(withTokenRows(weights, rows), config, { attention: "mha" });
    const session = await onnxruntimeNode().createSession(serializeModel(graph), { intraOpNumThreads: 1 });
    weights.close();
    try {
      const out = await session.run({ [TEXT_ENCODER_INPUT]: { dims: [1, WINDOW], data: ids } });
      assertClose(
        withEmbedding.data,
        out[TEXT_ENCODER_OUTPUT].data as Float32Array,
        0,
        "embedding vs replaced rows",
      );
    } finally {
      await session.release();
    }
    // and the embedding did change the conditioning: the name as plain text gives something else
    const asText = await encodePrompt(prompt, pipeline.models.tokenizer, pipeline.models.textEncoder);
    assert.notDeepEqual(asText.data, withEmbedding.data);
  });

  it("the graph's extra-token input leaves a prompt without embeddings bit for bit as before", async () => {
    const dir = join(TINY, "text_encoder");
    const config = parseTextEncoderConfig(JSON.parse(readFileSync(join(dir, "config.json"), "utf-8")));
    const weights = SafetensorsWeightSource.open(join(dir, "model.safetensors"));
    const plain = await onnxruntimeNode().createSession(
      serializeModel(buildTextEncoderGraph(weights, config, { attention: "mha" })),
      { intraOpNumThreads: 1 },
    );
    weights.close();
    try {
      const { chunks } = tokenizeWeightedPrompt(
        "a photo of a cat, (detailed:1.3)",
        pipeline.models.tokenizer,
      );
      const ids = Int32Array.from(chunks[0].ids);
      const out = await plain.run({ [TEXT_ENCODER_INPUT]: { dims: [1, WINDOW], data: ids } });
      const viaPipeline = await pipeline.models.textEncoder.encode(ids, 1, 1);
      assert.deepEqual(viaPipeline, out[TEXT_ENCODER_OUTPUT].data);
    } finally {
      await plain.release();
    }
  });
});

describe("embeddings through generate() and `sdlite generate`", () => {
  const request = {
    prompt: "a photo of mystyle",
    negativePrompt: "bad-thing, blurry",
    sampler: "Euler",
    steps: 2,
    guidance: 7,
    seed: 5,
    width: 64,
    height: 64,
  };

  it("changes the image, and the record names the embeddings used (TI hashes, A1111's order)", async () => {
    const list = [
      { ...embedding("mystyle", 2, 11), width: HIDDEN },
      { ...embedding("bad-thing", 1, 12), width: HIDDEN },
      { ...embedding("unused", 1, 13), width: HIDDEN },
      { ...embedding("too-wide", 1, 14), data: new Float32Array(768), width: 768 },
    ];
    const [withEmbeddings] = await generate(pipeline.models, request, { embeddings: list });
    const [plain] = await generate(pipeline.models, request);
    assert.notDeepEqual(withEmbeddings.image.data, plain.image.data);
    // A1111 encodes the negative prompt first; each later call's hashes come first
    assert.deepEqual(
      withEmbeddings.conditioning?.embeddings.map((e) => e.name),
      ["mystyle", "bad-thing"],
    );
    const record = buildGenerationRecord(request, withEmbeddings.seed, {
      conditioning: withEmbeddings.conditioning,
    });
    const parsed = parseInfotext(formatInfotext(record));
    const h = (name: string) => list.find((e) => e.name === name)!.sha256!.slice(0, 12);
    assert.equal(parsed.parameters["TI hashes"], `mystyle: ${h("mystyle")}, bad-thing: ${h("bad-thing")}`);
    assert.equal(plain.conditioning?.embeddings.length, 0);
    assert.equal(
      parseInfotext(formatInfotext(buildGenerationRecord(request, plain.seed))).parameters["TI hashes"],
      undefined,
    );
  });

  it("--embeddings-dir: the name in the prompt uses the file; the PNG's infotext carries its hash", async () => {
    const dir = join(work, "cli-embeddings");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "mystyle.pt");
    writeTorchPickle(file, {
      string_to_param: { "*": torchTensor("*", vectors(2, HIDDEN, 15), [2, HIDDEN]) },
      step: 10,
    });
    const env = { SDLITE_CACHE: join(work, "cli-cache"), HF_HOME: join(work, "hf"), HF_HUB_OFFLINE: "1" };
    const args = [
      "generate",
      request.prompt,
      "-m",
      TINY,
      "--steps",
      "2",
      "--sampler",
      "Euler",
      "-W",
      "64",
      "-H",
      "64",
    ];
    const out = join(work, "cli-out");
    const run = await runSdlite(
      [...args, "--seed", "5", "--threads", "1", "--embeddings-dir", dir, "-o", out],
      env,
    );
    assert.equal(run.status, 0, describeRun(run));
    const [png] = readdirSync(out);
    const text = decodePng(new Uint8Array(readFileSync(join(out, png)))).text.parameters;
    assert.match(text, new RegExp(`TI hashes: "mystyle: ${sha256(file).slice(0, 12)}"`));

    const missing = await runSdlite([...args, "--embeddings-dir", join(work, "nope"), "-o", out], env);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /--embeddings-dir: no such file/);
  });
});
