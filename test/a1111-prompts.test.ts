/**
 * AUTOMATIC1111's prompt conditioning with its default options (../shared/fixtures/a1111_prompts):
 * for every case the chunk ids and multipliers exactly, the cond and uncond tensors within 1e-4, and
 * the image `sdlite generate` writes within 1 level — including a prompt and negative prompt of
 * different lengths, which A1111 runs through the UNet separately (pad_cond_uncond off).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { toRgb } from "../src/image/color.js";
import { decodePng } from "../src/image/png.js";
import { encodePrompt } from "../src/pipeline/prompt-encoder.js";
import { tokenizeWeightedPrompt } from "../src/tokenizer/prompt-chunks.js";
import { SafetensorsFile } from "../src/weights/formats/safetensors.js";
import { assertClose } from "./helpers/assert-close.js";
import { fixturePath } from "./helpers/fixtures.js";
import { describeRun, runSdlite } from "./helpers/sdlite-cli.js";

const DIR = fixturePath("a1111_prompts");
const MODEL = join(DIR, "tiny-sd15-lnbias");

interface FixtureChunk {
  tokens: number[];
  multipliers: number[];
  multipliers_float64: number[];
}
interface PromptCase {
  id: string;
  prompt: string;
  negative_prompt: string;
  clip_skip: number;
  sampler: string;
  steps: number;
  cfg: number;
  seed: number;
  width: number;
  height: number;
  png: string;
  cond_key: string;
  uncond_key: string;
  cond_chunks: FixtureChunk[];
  uncond_chunks: FixtureChunk[];
  png_sensitivity: Record<string, number>;
}

const cases: PromptCase[] = JSON.parse(readFileSync(join(DIR, "manifest.json"), "utf-8")).cases;

let pipeline: OpenedPipeline;
let tensors: SafetensorsFile;
const tempDirs: string[] = [];
before(async () => {
  pipeline = await openPipeline(MODEL, { runtime: { cache: false, threads: 1 } });
  tensors = SafetensorsFile.open(join(DIR, "conditioning.safetensors"));
});
after(async () => {
  await pipeline?.close();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function checkChunks(prompt: string, expected: FixtureChunk[], label: string) {
  const { chunks } = tokenizeWeightedPrompt(prompt, pipeline.models.tokenizer);
  assert.equal(chunks.length, expected.length, `${label}: chunk count`);
  chunks.forEach((chunk, i) => {
    assert.deepEqual(chunk.ids, expected[i].tokens, `${label}: ids of chunk ${i}`);
    assert.deepEqual(chunk.weights, expected[i].multipliers_float64, `${label}: multipliers of chunk ${i}`);
    assert.deepEqual(
      chunk.weights.map(Math.fround),
      expected[i].multipliers,
      `${label}: float32 multipliers of chunk ${i}`,
    );
  });
}

describe("A1111 prompt goldens: chunks and multipliers", () => {
  for (const c of cases) {
    it(`${c.id}: prompt and negative prompt chunks exactly`, () => {
      checkChunks(c.prompt, c.cond_chunks, `${c.id} cond`);
      checkChunks(c.negative_prompt, c.uncond_chunks, `${c.id} uncond`);
    });
  }
});

describe("A1111 prompt goldens: cond and uncond tensors", () => {
  for (const c of cases) {
    it(`${c.id}: within 1e-4 (clip skip ${c.clip_skip})`, async () => {
      const { tokenizer, textEncoder } = pipeline.models;
      for (const [text, key] of [
        [c.prompt, c.cond_key],
        [c.negative_prompt, c.uncond_key],
      ]) {
        const e = await encodePrompt(text, tokenizer, textEncoder, c.clip_skip);
        const expected = tensors.readF32(key);
        assert.deepEqual([1, e.tokens, e.hidden], tensors.tensors.get(key)?.shape, `${key}: shape`);
        assertClose(e.data, expected, 1e-4, key);
      }
    });
  }
});

/** Largest per-channel difference in levels between two PNG files of the same size. */
function maxLevelDiff(actualPath: string, expectedPath: string): number {
  const read = (path: string) => toRgb(decodePng(new Uint8Array(readFileSync(path))));
  const [a, e] = [read(actualPath), read(expectedPath)];
  assert.deepEqual([a.width, a.height], [e.width, e.height], "image size");
  let worst = 0;
  for (let i = 0; i < e.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i] - e.data[i]));
  return worst;
}

describe("A1111 prompt goldens: images through `sdlite generate`", () => {
  // one graph cache for all cases: the model's graphs are built once
  const dir = mkdtempSync(join(tmpdir(), "sdlite-a1111-prompts-"));
  tempDirs.push(dir);
  const env = { SDLITE_CACHE: join(dir, "graphs"), HF_HOME: join(dir, "hf"), HF_HUB_OFFLINE: "1" };

  const generateCase = async (c: PromptCase, extra: string[] = []) => {
    const out = join(dir, `${c.id}${extra.length ? "-extra" : ""}`);
    const args = [c.prompt, "-m", MODEL, "--sampler", c.sampler, "--steps", String(c.steps)];
    args.push(
      "--cfg",
      String(c.cfg),
      "--seed",
      String(c.seed),
      "-W",
      String(c.width),
      "-H",
      String(c.height),
    );
    args.push("--clip-skip", String(c.clip_skip), "--negative", c.negative_prompt, "--threads", "1");
    const run = await runSdlite(["generate", ...args, ...extra, "-o", out], env);
    assert.equal(run.status, 0, describeRun(run));
    const files = readdirSync(out).filter((f) => f.endsWith(".png"));
    assert.equal(files.length, 1, `${c.id}: one PNG written`);
    return join(out, files[0]);
  };

  for (const c of cases) {
    it(`${c.id}: within 1 level of the golden PNG`, async () => {
      const worst = maxLevelDiff(await generateCase(c), join(DIR, c.png));
      console.log(`# ${c.id}: max ${worst} level(s)`);
      assert.ok(worst <= 1, `${c.id}: the image differs from the golden by ${worst} levels`);
    });
  }

  it("long_pos_short_neg with --pad-cond-uncond is A1111's padded image, not the default one", async () => {
    const c = cases.find((x) => x.id === "long_pos_short_neg")!;
    const worst = maxLevelDiff(await generateCase(c, ["--pad-cond-uncond"]), join(DIR, c.png));
    // the fixture measured what A1111's padding does to this case's PNG (png_sensitivity)
    const expected = c.png_sensitivity.cond_uncond_padded_with_empty_prompt;
    console.log(
      `# long_pos_short_neg padded: ${worst} level(s) from the golden, A1111's padding: ${expected}`,
    );
    assert.ok(
      expected > 1 && Math.abs(worst - expected) <= 1,
      `padded image ${worst} levels off, A1111's ${expected}`,
    );
  });
});
