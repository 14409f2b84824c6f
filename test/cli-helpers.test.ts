/** The small pieces of `sdlite generate`: --lora parsing, stage timings, plain progress lines, the record. */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { parseLoraArg } from "../src/cli/parse-lora-arg.js";
import { LineReporter } from "../src/cli/progress-reporter.js";
import { formatInfotext } from "../src/image/infotext.js";
import type { GenerationProgress } from "../src/pipeline/generate.js";
import { buildGenerationRecord } from "../src/pipeline/generation-record.js";
import { StageTimings } from "../src/pipeline/stage-timings.js";

describe("parseLoraArg", () => {
  test("FILE and FILE:WEIGHT, paths with colons", () => {
    assert.deepEqual(parseLoraArg("detail.safetensors"), { path: "detail.safetensors", weight: 1 });
    assert.deepEqual(parseLoraArg("detail.safetensors:0.7"), { path: "detail.safetensors", weight: 0.7 });
    assert.deepEqual(parseLoraArg("a/b.safetensors:-1.5"), { path: "a/b.safetensors", weight: -1.5 });
    assert.deepEqual(parseLoraArg("C:\\loras\\x.safetensors"), {
      path: "C:\\loras\\x.safetensors",
      weight: 1,
    });
    assert.deepEqual(parseLoraArg("C:\\loras\\x.safetensors:.5"), {
      path: "C:\\loras\\x.safetensors",
      weight: 0.5,
    });
    assert.deepEqual(parseLoraArg("odd:name.safetensors"), { path: "odd:name.safetensors", weight: 1 });
    assert.throws(() => parseLoraArg(""), /--lora needs a file name/);
  });
});

const progress = (stage: GenerationProgress["stage"], step = 0, batchIndex = 0): GenerationProgress => ({
  stage,
  step,
  totalSteps: stage === "denoise" ? 4 : 0,
  batchIndex,
  batchCount: 2,
});

describe("StageTimings", () => {
  test("stage durations from events and stageDone; the rate leaves out each batch's first step", () => {
    let now = 0;
    const t = new StageTimings(() => now);
    now = 10;
    t.record(progress("encode-prompt"));
    now = 30;
    t.stageDone("text-encoder");
    for (const batch of [0, 1]) {
      now += 500; // the first step: 500 ms after the previous stage ended (session creation)
      t.record(progress("denoise", 1, batch));
      for (let step = 2; step <= 4; step++) {
        now += 100;
        t.record(progress("denoise", step, batch));
      }
      now += 5;
      t.stageDone("unet");
      t.record(progress("decode", 0, batch));
      now += 70;
      t.stageDone("vae");
    }
    const s = t.summary();
    assert.deepEqual(s.stages, { "encode-prompt": 20, denoise: 2 * (500 + 300 + 5), decode: 2 * 70 });
    assert.equal(s.denoiseSteps, 8);
    assert.equal(s.stepsPerSecond, 10, "6 steady steps in 600 ms");
  });
});

class Collect extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

describe("LineReporter", () => {
  test("one line per step with rate and ETA, stage lines, batch numbers", () => {
    const out = new Collect();
    const r = new LineReporter(out, () => 2);
    r.generation(progress("encode-prompt"));
    r.generation(progress("denoise", 1, 0));
    r.generation(progress("denoise", 4, 0));
    r.generation(progress("decode", 0, 1));
    r.note("warning: something");
    assert.equal(
      out.text,
      [
        "encoding prompt",
        "step 1/4 (batch 1/2), 2.00 it/s, ETA 3.5s",
        "step 4/4 (batch 1/2), 2.00 it/s, ETA 2.0s",
        "decoding (batch 2/2)",
        "warning: something",
        "",
      ].join("\n"),
    );
  });

  test("download lines every 10%, none for files that were already cached", () => {
    const out = new Collect();
    const r = new LineReporter(out, () => 0);
    const total = 1000;
    r.download({ file: "model_index.json", fileBytes: 100, fileTotal: 100, bytes: 100, total });
    r.download({ file: "unet.safetensors", fileBytes: 0, fileTotal: 900, bytes: 100, total });
    for (let b = 50; b <= 900; b += 50) {
      r.download({ file: "unet.safetensors", fileBytes: b, fileTotal: 900, bytes: 100 + b, total });
    }
    const lines = out.text.trim().split("\n");
    assert.equal(lines[0], "download 10% (100 B of 1000 B) unet.safetensors");
    assert.deepEqual(
      lines.map((l) => Number(/^download (\d+)%/.exec(l)?.[1])),
      [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
    );

    const cached = new Collect();
    const quiet = new LineReporter(cached, () => 0);
    quiet.download({ file: "a", fileBytes: 10, fileTotal: 10, bytes: 10, total: 20 });
    quiet.download({ file: "b", fileBytes: 10, fileTotal: 10, bytes: 20, total: 20 });
    assert.equal(cached.text, "", "a fully cached snapshot prints nothing");
  });
});

describe("buildGenerationRecord", () => {
  test("A1111 fields: sampler + schedule, strength only for img2img, clip skip, RNG, LoRAs in prompt and hashes", () => {
    const init = { width: 8, height: 8, data: new Uint8Array(192) };
    const record = buildGenerationRecord(
      {
        prompt: "a cat",
        negativePrompt: "blurry",
        sampler: "k_dpmpp_2m_ka",
        steps: 8,
        guidance: 7,
        seed: 5,
        width: 8,
        height: 8,
        initImage: init,
        strength: 0.5,
        clipSkip: 2,
        rng: "nv",
      },
      6,
      {
        modelName: "v1-5",
        modelHash: "6ce0161689",
        loras: [{ path: "/x/detail.safetensors", weight: 0.7, addnetHash: "ab".repeat(32) }],
      },
    );
    assert.equal(
      formatInfotext(record),
      "a cat <lora:detail:0.7>\nNegative prompt: blurry\n" +
        "Steps: 8, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 6, Size: 8x8, " +
        "Model hash: 6ce0161689, Model: v1-5, Denoising strength: 0.5, Clip skip: 2, RNG: NV, " +
        'Lora hashes: "detail: abababababab", Version: sdlite 0.1.0',
    );
    const plain = buildGenerationRecord(
      { prompt: "x", sampler: "Euler a", steps: 20, guidance: 7.5, seed: 1, width: 512, height: 512 },
      1,
    );
    assert.equal(
      formatInfotext(plain),
      "x\nSteps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1, Size: 512x512, RNG: CPU, Version: sdlite 0.1.0",
    );
  });
});
