import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { f16ToF32, f32ToF16 } from "../src/weights/formats/dtype.js";
import { SafetensorsFile } from "../src/weights/formats/safetensors.js";
import { writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { fixturePath } from "./helpers/fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "sdlite-st-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("reads the fp16 single-file checkpoint header and converts a tensor", () => {
  const f = SafetensorsFile.open(fixturePath("single_file", "tiny-sd15-fp16.safetensors"));
  assert.equal(f.tensors.size, 970);
  const info = f.info("model.diffusion_model.input_blocks.0.0.weight");
  assert.equal(info.dtype, "F16");
  assert.deepEqual(info.shape, [8, 4, 3, 3]);
  const w = f.readF32(info.name);
  assert.equal(w.length, 8 * 4 * 9);
  assert.ok(w.every(Number.isFinite));
  f.close();
});

test("writer round-trips every dtype and leaves no temp file", () => {
  const path = join(dir, "rt.safetensors");
  const f32 = Float32Array.from([1.5, -2, 3.25]);
  const f16 = f32ToF16(Float32Array.from([0.5, -1, 65504, 1e-7]));
  const i64 = BigInt64Array.from([49406n, -3n]);
  writeSafetensors(
    path,
    [
      { name: "a", dtype: "F32", shape: [3], data: f32 },
      { name: "b", dtype: "F16", shape: [2, 2], data: f16 },
      { name: "c", dtype: "I64", shape: [2], data: i64 },
      { name: "d", dtype: "U8", shape: [0], data: new Uint8Array(0) },
    ],
    { format: "pt" },
  );
  assert.deepEqual(readdirSync(dir), ["rt.safetensors"]);
  const f = SafetensorsFile.open(path);
  assert.deepEqual(Array.from(f.readF32("a")), [1.5, -2, 3.25]);
  assert.deepEqual(Array.from(f.readF32("b")), Array.from(f16ToF32(f16)));
  assert.deepEqual(f.readInts("c"), [49406, -3]);
  assert.equal(f.readF32("d").length, 0);
  assert.equal(f.metadata.format, "pt");
  f.close();
});
