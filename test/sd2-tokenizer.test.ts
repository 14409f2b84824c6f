/**
 * SD 2.x's tokenizer settings against transformers (sd2/tokenizer_golden.json): pad id 0 ("!")
 * after EOS, and every "!" typed in a prompt cut out as id 0 as transformers' added-tokens trie does,
 * from the folder's tokenizer_config.json and from the bundled vocabulary told the pad token.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { bundledTokenizerDir } from "../src/engine/open-pipeline.js";
import { loadClipTokenizer, tokenizerFileOptions } from "../src/tokenizer/load-tokenizer.js";
import { tokenizeWeightedPrompt } from "../src/tokenizer/prompt-chunks.js";
import { fixturePath } from "./helpers/fixtures.js";
import { sd2Path } from "./helpers/sd2-fixtures.js";

interface Sd2TokenizerCase {
  prompt: string;
  input_ids: number[];
  untruncated_ids: number[];
  tokens: string[];
  plain_bpe_ids_pad0: number[];
  differs_from_plain_bpe: boolean;
}

const golden = JSON.parse(readFileSync(sd2Path("tokenizer_golden.json"), "utf-8")) as {
  tokenizer_dir: string;
  bos_id: number;
  eos_id: number;
  pad_id: number;
  cases: Sd2TokenizerCase[];
};
const folder = loadClipTokenizer(sd2Path(golden.tokenizer_dir));
const bundled = loadClipTokenizer(bundledTokenizerDir(), { padToken: "!" });

test("the SD2 tokenizer folder's files say: pad token '!' (id 0), BOS/EOS as SD1.5", () => {
  assert.deepEqual(tokenizerFileOptions(sd2Path(golden.tokenizer_dir)), {
    padToken: "!",
    addedTokens: ["!", "<|startoftext|>", "<|endoftext|>"],
  });
  for (const t of [folder, bundled]) {
    assert.equal(t.padId, golden.pad_id);
    assert.equal(t.bosId, golden.bos_id);
    assert.equal(t.eosId, golden.eos_id);
  }
  // SD1.5's folder names EOS as its pad token: nothing changes there
  assert.equal(loadClipTokenizer(fixturePath("models", "tiny-sd15", "tokenizer")).padId, golden.eos_id);
});

for (const c of golden.cases) {
  const name = JSON.stringify(c.prompt).slice(0, 50);
  test(`SD2 golden ${name}: input_ids, tokens and untruncated ids (folder and bundled vocabulary)`, () => {
    for (const [label, t] of [
      ["folder", folder],
      ["bundled", bundled],
    ] as const) {
      assert.deepEqual(t.encodePadded(c.prompt), c.input_ids, `${label} input_ids of ${name}`);
      assert.deepEqual(
        t.encodeUntruncated(c.prompt),
        c.untruncated_ids,
        `${label} untruncated ids of ${name}`,
      );
      assert.deepEqual(t.tokenize(c.prompt), c.tokens.slice(1, -1), `${label} tokens of ${name}`);
    }
  });
}

test("without '!' registered, the same vocabulary gives plain BPE (what OpenCLIP's own tokenizer does)", () => {
  const plain = loadClipTokenizer(bundledTokenizerDir(), { padId: 0 });
  const differing = golden.cases.filter((c) => c.differs_from_plain_bpe);
  assert.ok(differing.length >= 3, "the golden has prompts where '!' matters");
  for (const c of golden.cases) {
    assert.deepEqual(
      plain.encodePadded(c.prompt),
      c.plain_bpe_ids_pad0,
      `plain BPE of ${JSON.stringify(c.prompt)}`,
    );
  }
});

test("A1111 prompt handling with the SD2 tokenizer gives diffusers' ids for prompts under 75 tokens", () => {
  for (const c of golden.cases.filter((x) => x.untruncated_ids.length <= 77)) {
    const { chunks } = tokenizeWeightedPrompt(c.prompt, folder);
    assert.equal(chunks.length, 1);
    assert.deepEqual(chunks[0].ids, c.input_ids, `A1111 window of ${JSON.stringify(c.prompt)}`);
  }
  // emphasis keeps ids and weights the token; BREAK pads the first window with 0 after its EOS
  const { chunks } = tokenizeWeightedPrompt("(cat:1.5)! BREAK dog", folder);
  assert.equal(chunks.length, 2);
  assert.deepEqual(chunks[0].ids.slice(0, 5), [golden.bos_id, 2368, 0, golden.eos_id, 0]);
  assert.deepEqual(chunks[0].weights.slice(0, 3), [1, 1.5, 1]);
  assert.ok(chunks[0].ids.slice(3).every((id, i) => (i === 0 ? id === golden.eos_id : id === 0)));
});
