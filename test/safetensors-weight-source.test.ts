import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { f32ToF16 } from "../src/weights/formats/dtype.js";
import { writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { SafetensorsWeightSource } from "../src/weights/safetensors-weight-source.js";
import { fixturePath } from "./helpers/fixtures.js";

describe("SafetensorsWeightSource", () => {
  it("reads the fp16 single file's text encoder under its canonical names, equal to the fp32 folder", () => {
    const folder = SafetensorsWeightSource.open(
      fixturePath("models/tiny-sd15/text_encoder/model.safetensors"),
    );
    const single = SafetensorsWeightSource.open(fixturePath("single_file/tiny-sd15-fp16.safetensors"), {
      stripPrefix: "cond_stage_model.transformer.",
    });
    try {
      const names = single.names();
      assert.ok(
        names.length > 0 && names.every((n) => n.startsWith("text_model.")),
        "only text encoder keys",
      );
      for (const name of names) {
        assert.ok(folder.has(name), `${name} exists in the diffusers folder`);
        assert.deepEqual(single.shape(name), folder.shape(name), `${name} shape`);
      }
      const key = "text_model.encoder.layers.0.self_attn.q_proj.weight";
      assert.equal(single.dtype(key), "F16");
      // the fixture weights are fp16-representable, so the upcast is exact
      assert.deepEqual(single.get(key), folder.get(key));
    } finally {
      folder.close();
      single.close();
    }
  });

  it("renames keys, drops the ones mapped to undefined, and refuses two files claiming one name", () => {
    const dir = mkdtempSync(join(tmpdir(), "sdlite-ws-"));
    try {
      const a = join(dir, "a.safetensors");
      const b = join(dir, "b.safetensors");
      writeSafetensors(a, [
        { name: "m.x", dtype: "F16", shape: [2], data: f32ToF16(Float32Array.of(1.5, -2)) },
        { name: "m.skip", dtype: "F32", shape: [1], data: Float32Array.of(0) },
      ]);
      writeSafetensors(b, [{ name: "m.y", dtype: "BF16", shape: [1], data: Uint16Array.of(0x3fc0) }]);
      const src = SafetensorsWeightSource.open([a, b], {
        stripPrefix: "m.",
        rename: (k) => (k === "skip" ? undefined : `net.${k}`),
      });
      assert.deepEqual(src.names().sort(), ["net.x", "net.y"]);
      assert.deepEqual([...src.get("net.x")], [1.5, -2]);
      assert.deepEqual([...src.get("net.y")], [1.5]);
      assert.throws(() => src.get("net.skip"), /no weight named "net.skip"/);
      src.close();
      assert.throws(() => SafetensorsWeightSource.open([a, a]), /comes from both/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
