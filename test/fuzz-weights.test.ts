/**
 * Fuzzing the files users point sdlite at: a single-file checkpoint (.safetensors and a torch.save
 * .ckpt pickle), a LoRA, textual-inversion
 * embeddings (.safetensors and torch pickles) and upscalers (.safetensors and .pth), mutated by bit
 * flips (most in the header, where the structure is), truncation, appended junk and a lying length
 * field, then opened as sdlite opens them. Each opens, or is refused with an error of its own
 * kind and a one-line message (no TypeError, no V8 allocation or stack failure), within HANG_MS and
 * MEMORY_BOUND_BYTES of resident memory.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import fc from "fast-check";
import { readEmbeddingFile } from "../src/embeddings/embedding-file.js";
import { readLoraFile } from "../src/lora/lora-file.js";
import { LoraTargets } from "../src/lora/lora-targets.js";
import { openUpscalerWeights } from "../src/upscale/upscaler-weights.js";
import { SafetensorsFile } from "../src/weights/formats/safetensors.js";
import { writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { loadModel } from "../src/weights/load-model.js";
import { fixturePath } from "./helpers/fixtures.js";
import { checkMemory, fuzzParameters, newTally, reportTally } from "./helpers/fuzz.js";
import { TINY_OVERRIDES } from "./helpers/tiny-configs.js";
import { openTinyLoraModel } from "./helpers/tiny-lora-model.js";
import { tinyCompactWeights, writeTinyPth, writeTinySafetensors } from "./helpers/tiny-upscalers.js";
import { writeTorchCheckpoint, writeTorchPickle } from "./helpers/torch-checkpoint-writer.js";

const HANG_MS = 20_000;
const dir = mkdtempSync(join(tmpdir(), "sdlite-fuzz-weights-"));
const tally = newTally();
const model = openTinyLoraModel();
const targets = new LoraTargets(model);
after(() => {
  model.unet.close();
  model.textEncoder.close();
  rmSync(dir, { recursive: true, force: true });
  reportTally("model, LoRA, embedding and upscaler files", tally, { hangBoundMs: HANG_MS });
});

function written(name: string, write: (path: string) => void): Uint8Array {
  const path = join(dir, name);
  write(path);
  return readFileSync(path);
}

const vectors = new Float32Array(2 * 32).map((_, i) => Math.sin(i));
const embeddingTensor = {
  name: "*",
  dtype: "F32" as const,
  shape: [2, 32],
  data: new Uint8Array(vectors.buffer),
};
const compact = tinyCompactWeights(8, 2, 4);
const SINGLE = fixturePath("single_file", "tiny-sd15-fp16.safetensors");

/** The tiny checkpoint as torch.save writes it: a zip of a pickle and its storages. */
function tinyCkpt(path: string): void {
  const src = SafetensorsFile.open(SINGLE);
  writeTorchCheckpoint(
    path,
    src.names().map((name) => ({
      name,
      dtype: "F16" as const,
      shape: src.info(name).shape,
      data: src.readRaw(name).bytes,
    })),
  );
  src.close();
}

/** Opens a checkpoint as the CLI does (the tiny model's shapes need its overrides), then closes it. */
function openCheckpoint(path: string): void {
  loadModel(path, { overrides: TINY_OVERRIDES }).close();
}

/** [extension, bytes, opener]: each opener closes what it opened. */
const SEEDS: [string, Uint8Array, (path: string) => void][] = [
  [".safetensors", readFileSync(SINGLE), openCheckpoint],
  [".ckpt", written("tiny.ckpt", tinyCkpt), openCheckpoint],
  [
    ".safetensors",
    readFileSync(fixturePath("lora", "tiny-sd15-kohya.safetensors")),
    (p) => readLoraFile(p, targets),
  ],
  [
    ".safetensors",
    readFileSync(fixturePath("lora", "tiny-sd15-diffusers-peft.safetensors")),
    (p) => readLoraFile(p, targets),
  ],
  [
    ".safetensors",
    written("emb.safetensors", (p) =>
      writeSafetensors(p, [{ name: "emb_params", dtype: "F32", shape: [2, 32], data: vectors }]),
    ),
    (p) => readEmbeddingFile(p),
  ],
  [
    ".pt",
    written("emb.pt", (p) =>
      writeTorchPickle(p, { string_to_param: { "*": embeddingTensor }, name: "x", step: 10 }),
    ),
    (p) => readEmbeddingFile(p),
  ],
  [
    ".safetensors",
    written("up.safetensors", (p) => writeTinySafetensors(p, compact)),
    (p) => openUpscalerWeights(p).close(),
  ],
  [".pth", written("up.pth", (p) => writeTinyPth(p, compact)), (p) => openUpscalerWeights(p).close()],
];

type Mutation = (bytes: Uint8Array) => Uint8Array;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // flips within the first 4 KB (safetensors header, zip directory of small files) or anywhere
  fc
    .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 }), fc.boolean()), { minLength: 1, maxLength: 16 })
    .map((flips) => (b: Uint8Array) => {
      const out = new Uint8Array(b);
      for (const [at, bit, early] of flips)
        out[at % (early ? Math.min(4096, out.length) : out.length)] ^= 1 << bit;
      return out;
    }),
  // the zip's central directory and the pickle sit at the end of a torch file
  fc
    .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 })
    .map((flips) => (b: Uint8Array) => {
      const out = new Uint8Array(b);
      for (const [at, bit] of flips) out[out.length - 1 - (at % Math.min(2048, out.length))] ^= 1 << bit;
      return out;
    }),
  fc.nat().map((n) => (b: Uint8Array) => b.subarray(0, n % (b.length + 1))),
  fc
    .uint8Array({ minLength: 1, maxLength: 256 })
    .map((junk) => (b: Uint8Array) => Uint8Array.from([...b, ...junk])),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((length) => (b: Uint8Array) => {
    const out = new Uint8Array(b);
    if (out.length >= 8) new DataView(out.buffer).setBigUint64(0, length, true);
    return out;
  }),
  fc.uint8Array({ maxLength: 2048 }).map((junk) => () => junk),
);

/** A refusal is fine; these are bugs: a programming error or V8 running out of stack or memory. */
function isCrash(err: unknown): boolean {
  if (!(err instanceof Error)) return true;
  if (err instanceof TypeError || err instanceof ReferenceError) return true;
  return /Maximum call stack|Invalid typed array length|Array buffer allocation failed|Invalid array length|out of memory/i.test(
    err.message,
  );
}

test("fuzz weight files: opened, or refused with the file's own kind of error", { timeout: 900_000 }, () => {
  let n = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: SEEDS.length - 1 }), mutation, (pick, mutate) => {
      const [extension, seed, open] = SEEDS[pick];
      const path = join(dir, `case-${n++}${extension}`);
      writeFileSync(path, mutate(seed));
      tally.inputs++;
      const started = performance.now();
      try {
        open(path);
      } catch (err) {
        if (isCrash(err)) {
          tally.crashes++;
          assert.fail(`${SEEDS[pick][0]} #${pick}: ${(err as Error).stack}`);
        }
        if ((err as Error).message.trim().includes("\n")) {
          tally.otherFailures++;
          assert.fail(`a message of several lines: ${(err as Error).message}`);
        }
      } finally {
        rmSync(path, { force: true });
      }
      const ms = performance.now() - started;
      if (ms > HANG_MS) {
        tally.hangs++;
        assert.fail(`${ms.toFixed(0)} ms`);
      }
      checkMemory(tally, `${extension} #${pick}`);
    }),
    fuzzParameters(250),
  );
});
