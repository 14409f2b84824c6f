import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { GenerationRecord } from "../src/image/generation-record.js";
import {
  formatInfotext,
  parseInfotext,
  parseLoraHashes,
  quoteInfotextValue,
  recordFromInfotext,
  splitSamplerName,
} from "../src/image/infotext.js";
import { loraShortHash, modelShortHash, shortHash } from "../src/image/model-hash.js";
import { legacyModelHash, sha256File } from "../src/image/sha256-file.js";
import { safetensorsDataSha256 } from "./helpers/addnet-hash.js";
import { fixturePath } from "./helpers/fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "sdlite-infotext-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

test("formats a record the way A1111's create_infotext does", () => {
  const record: GenerationRecord = {
    prompt: "a cat, (red scarf:1.2) <lora:add_detail:0.7>",
    negativePrompt: "blurry",
    steps: 20,
    sampler: "DPM++ 2M",
    scheduleType: "Karras",
    cfgScale: 7,
    seed: 1234,
    width: 512,
    height: 768,
    modelHash: "6ce0161689",
    model: "v1-5-pruned-emaonly",
    clipSkip: 1,
    rng: "CPU",
    loraHashes: [{ name: "add_detail", hash: "7c6bad76eb54" }],
    extra: { "Hires upscale": 2, "Hires upscaler": "R-ESRGAN 4x+" },
    version: "sdlite 0.1.0",
  };
  assert.equal(
    formatInfotext(record),
    "a cat, (red scarf:1.2) <lora:add_detail:0.7>\n" +
      "Negative prompt: blurry\n" +
      "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x768, " +
      "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, RNG: CPU, Hires upscale: 2, " +
      'Hires upscaler: R-ESRGAN 4x+, Lora hashes: "add_detail: 7c6bad76eb54", Version: sdlite 0.1.0',
  );
  // no negative prompt → no line; clip skip 2 is written; GPU RNG is A1111's default and left out
  const minimal = formatInfotext({ ...record, negativePrompt: "", clipSkip: 2, rng: "GPU", loraHashes: [] });
  assert.equal(minimal.split("\n").length, 2);
  assert.match(minimal, /, Model: v1-5-pruned-emaonly, Clip skip: 2, Hires upscale: 2,/);
  assert.doesNotMatch(minimal, /RNG|Lora hashes|Negative prompt/);
});

test("values with commas, colons, newlines or quotes are JSON-quoted", () => {
  assert.equal(quoteInfotextValue("plain value"), "plain value");
  assert.equal(quoteInfotextValue("a, b"), '"a, b"');
  assert.equal(quoteInfotextValue("face: smile"), '"face: smile"');
  assert.equal(quoteInfotextValue('say "hi", ok'), '"say \\"hi\\", ok"');
  assert.equal(quoteInfotextValue("two\nlines"), '"two\\nlines"');
  assert.equal(quoteInfotextValue('"quoted"'), '"\\"quoted\\""');
});

const roundTripRecords: GenerationRecord[] = [
  {
    prompt: "masterpiece, best quality\nsecond line with 日本語 and emoji 🐱\nthird: line",
    negativePrompt: "lowres, bad anatomy\n(worst quality:1.4)",
    steps: 25,
    sampler: "Euler a",
    cfgScale: 7.5,
    seed: 4294967295,
    width: 768,
    height: 512,
    modelHash: "0123456789",
    model: "my model, v2: final",
    denoisingStrength: 0.45,
    clipSkip: 2,
    rng: "NV",
    loraHashes: [
      { name: "add_detail", hash: "7c6bad76eb54" },
      { name: "style:v2", hash: "0123456789ab" },
    ],
    extra: {
      "ADetailer prompt": 'a "smiling" face: detailed, 4k',
      "Hires steps": 10,
      "Token merging ratio": 0.3,
      "VAE hash": "735e4c3a44",
    },
    version: "sdlite 0.1.0",
  },
  { prompt: "", steps: 1, sampler: "LCM", cfgScale: 1, seed: 0, width: 64, height: 64 },
];

test("format → parse → record round-trips", () => {
  for (const record of roundTripRecords) {
    const text = formatInfotext(record);
    const back = recordFromInfotext(parseInfotext(text));
    assert.deepEqual(back, record, `round trip of:\n${text}`);
    // and again through Windows newlines
    assert.deepEqual(recordFromInfotext(parseInfotext(text.replace(/\n/g, "\r\n"))), record);
  }
});

test("parses a modern A1111 infotext with hires fix, LoRA and RNG", () => {
  const text = [
    "masterpiece, best quality, 1girl, (red scarf:1.2), <lora:add_detail:0.7>",
    "Negative prompt: lowres, bad anatomy, (worst quality:1.4)",
    "Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6, Seed: 777, Size: 512x768, " +
      "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Clip skip: 2, " +
      'Hires upscale: 2, Hires steps: 10, Hires upscaler: R-ESRGAN 4x+, Lora hashes: "add_detail: 7c6bad76eb54", ' +
      "RNG: CPU, Version: v1.10.1",
  ].join("\n");
  const parsed = parseInfotext(text);
  assert.equal(parsed.prompt, "masterpiece, best quality, 1girl, (red scarf:1.2), <lora:add_detail:0.7>");
  assert.equal(parsed.negativePrompt, "lowres, bad anatomy, (worst quality:1.4)");
  assert.deepEqual(parsed.parameters, {
    Steps: 25,
    Sampler: "DPM++ 2M",
    "Schedule type": "Karras",
    "CFG scale": 6,
    Seed: 777,
    Size: "512x768",
    "Model hash": "6ce0161689",
    Model: "v1-5-pruned-emaonly",
    "Denoising strength": 0.45,
    "Clip skip": 2,
    "Hires upscale": 2,
    "Hires steps": 10,
    "Hires upscaler": "R-ESRGAN 4x+",
    "Lora hashes": "add_detail: 7c6bad76eb54",
    RNG: "CPU",
    Version: "v1.10.1",
  });
  const record = recordFromInfotext(parsed);
  assert.equal(record.scheduleType, "Karras");
  assert.equal(record.rng, "CPU");
  assert.deepEqual(record.loraHashes, [{ name: "add_detail", hash: "7c6bad76eb54" }]);
  assert.deepEqual(record.extra, { "Hires upscale": 2, "Hires steps": 10, "Hires upscaler": "R-ESRGAN 4x+" });
});

test("parses an old-style infotext: no negative prompt, schedule folded into the sampler, 8-hex hash", () => {
  const text =
    "a photo of an astronaut riding a horse on mars\n" +
    "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b";
  const parsed = parseInfotext(text);
  assert.equal(parsed.prompt, "a photo of an astronaut riding a horse on mars");
  assert.equal(parsed.negativePrompt, "");
  const record = recordFromInfotext(parsed);
  assert.equal(record.sampler, "DPM++ 2M");
  assert.equal(record.scheduleType, "Karras");
  assert.equal(record.modelHash, "45dee52b");
  assert.equal(record.negativePrompt, undefined);
  assert.deepEqual(splitSamplerName("DPM++ 2M SDE Exponential"), {
    sampler: "DPM++ 2M SDE",
    scheduleType: "Exponential",
  });
  assert.deepEqual(splitSamplerName("DDIM"), { sampler: "DDIM" });
});

test("every A1111 schedule type is written after Schedule type and read back, also folded into the sampler", () => {
  for (const schedule of ["SGM Uniform", "Beta", "Align Your Steps", "KL Optimal", "Polyexponential"]) {
    const record: GenerationRecord = {
      prompt: "a cat",
      steps: 8,
      sampler: "Euler a",
      scheduleType: schedule,
      cfgScale: 7,
      seed: 1,
      width: 64,
      height: 64,
    };
    const text = formatInfotext(record);
    assert.match(text, new RegExp(`Sampler: Euler a, Schedule type: ${schedule}, CFG scale`));
    const back = recordFromInfotext(parseInfotext(text));
    assert.deepEqual([back.sampler, back.scheduleType], ["Euler a", schedule]);
  }
  // A1111's get_sampler_and_scheduler also takes the schedule's name or alias after a space
  assert.deepEqual(splitSamplerName("Euler a sgm_uniform"), {
    sampler: "Euler a",
    scheduleType: "SGM Uniform",
  });
  assert.deepEqual(splitSamplerName("DPM++ 2M SGMUniform"), {
    sampler: "DPM++ 2M",
    scheduleType: "SGM Uniform",
  });
  assert.deepEqual(splitSamplerName("Euler Polyexponential"), {
    sampler: "Euler",
    scheduleType: "Polyexponential",
  });
  assert.deepEqual(
    recordFromInfotext(
      parseInfotext("a cat\nSteps: 8, Sampler: LMS Beta, CFG scale: 7, Seed: 1, Size: 64x64"),
    ).scheduleType,
    "Beta",
  );
});

test("'Negative prompt:' inside a line stays prompt text; Windows newlines; multi-line prompts", () => {
  const text =
    "a sign that says Negative prompt: none\r\n" +
    "  second line of the prompt  \r\n" +
    "Negative prompt: ugly,\r\n" +
    "second negative line\r\n" +
    "Steps: 30, Sampler: Euler, CFG scale: 7.5, Seed: 42, Size: 768x512\r\n";
  const parsed = parseInfotext(text);
  assert.equal(parsed.prompt, "a sign that says Negative prompt: none\nsecond line of the prompt");
  assert.equal(parsed.negativePrompt, "ugly,\nsecond negative line");
  assert.deepEqual(parsed.parameters, {
    Steps: 30,
    Sampler: "Euler",
    "CFG scale": 7.5,
    Seed: 42,
    Size: "768x512",
  });
});

test("a last line with fewer than 3 parameters is prompt text (A1111's rule); plain prompts parse", () => {
  const short = parseInfotext("a cat\nSteps: 20, Seed: 5");
  assert.equal(short.prompt, "a cat\nSteps: 20, Seed: 5");
  assert.deepEqual(short.parameters, {});
  assert.deepEqual(parseInfotext("just a prompt"), {
    prompt: "just a prompt",
    negativePrompt: "",
    parameters: {},
  });
  assert.throws(() => recordFromInfotext(short), /missing Steps, Sampler, CFG scale, Seed, Size/);
});

test("quoted values with escapes, JSON-object values and hashes made of digits stay intact", () => {
  const line =
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model hash: 1234567890, " +
    'ADetailer prompt: "a \\"smiling\\" face: detailed, 4k", ' +
    'Hashes: {"vae": "63aeecb90f", "lora:EPhsrKafka": "5a3385485b", "model": "529c72f6c3"}, ' +
    "Version: f0.0.17v1.8.0rc-latest-277-g0af28699";
  const { parameters } = parseInfotext(`prompt\n${line}`);
  assert.equal(parameters["Model hash"], "1234567890");
  assert.equal(parameters["ADetailer prompt"], 'a "smiling" face: detailed, 4k');
  assert.deepEqual(JSON.parse(String(parameters.Hashes)), {
    vae: "63aeecb90f",
    "lora:EPhsrKafka": "5a3385485b",
    model: "529c72f6c3",
  });
  assert.equal(parameters.Version, "f0.0.17v1.8.0rc-latest-277-g0af28699");
  assert.equal(parameters.Seed, 1);
});

test("Lora hashes: names may contain ':'", () => {
  assert.deepEqual(parseLoraHashes("a: 0123456789ab, style:v2: ba9876543210"), [
    { name: "a", hash: "0123456789ab" },
    { name: "style:v2", hash: "ba9876543210" },
  ]);
});

test("short hashes: 10 hex for Model hash (AutoV2), 12 for Lora hashes; bad digests rejected", () => {
  const digest = sha256(new TextEncoder().encode("sdlite"));
  assert.equal(modelShortHash(digest), digest.slice(0, 10));
  assert.equal(loraShortHash(digest.toUpperCase()), digest.slice(0, 12));
  assert.equal(shortHash(digest, 8), digest.slice(0, 8));
  assert.throws(() => modelShortHash("abc"), /not a SHA-256/);
});

test("sha256File streams a file (and byte ranges); addnet and legacy hashes", async () => {
  const bytes = Uint8Array.from({ length: 0x110000 + 12345 }, (_, i) => (i * 2654435761) >>> 24);
  const path = join(dir, "blob.bin");
  writeFileSync(path, bytes);
  assert.equal(await sha256File(path), sha256(bytes));
  assert.equal(await sha256File(path, { start: 100, end: 5000 }), sha256(bytes.subarray(100, 5000)));
  assert.equal(await legacyModelHash(path), sha256(bytes.subarray(0x100000, 0x110000)).slice(0, 8));

  const lora = fixturePath("lora", "tiny-sd15-kohya.safetensors");
  const file = readFileSync(lora);
  const headerLength = Number(file.readBigUInt64LE(0));
  const data = file.subarray(8 + headerLength);
  assert.equal(await safetensorsDataSha256(lora), sha256(data));
  assert.notEqual(await safetensorsDataSha256(lora), await sha256File(lora));
});
