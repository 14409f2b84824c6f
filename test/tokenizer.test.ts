import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { BYTE_TO_CHAR } from "../src/tokenizer/byte-encoder.js";
import { ClipTokenizer, MAX_MERGES } from "../src/tokenizer/clip-tokenizer.js";
import { loadClipTokenizer, parseMerges, TokenizerLoadError } from "../src/tokenizer/load-tokenizer.js";
import { cleanupText } from "../src/tokenizer/text-cleanup.js";
import { fixturePath } from "./helpers/fixtures.js";

interface GoldenCase {
  prompt: string;
  input_ids: number[];
  untruncated_ids: number[];
  tokens: string[];
  num_tokens_without_specials: number;
  truncated: boolean;
}

const golden = JSON.parse(readFileSync(fixturePath("tokenizer_golden.json"), "utf-8")) as {
  tokenizer_dir: string;
  bos_id: number;
  eos_id: number;
  pad_id: number;
  max_length: number;
  cases: GoldenCase[];
};
const tokenizer = loadClipTokenizer(fixturePath(golden.tokenizer_dir));

/** First index where two id lists differ, for a failure message that says where. */
function firstDifference(a: readonly unknown[], b: readonly unknown[]): string {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return `index ${i}: got ${JSON.stringify(a[i])}, expected ${JSON.stringify(b[i])}`;
  }
  return "equal";
}

function assertSameList(actual: readonly unknown[], expected: readonly unknown[], label: string): void {
  assert.deepEqual(
    actual,
    expected,
    `${label}: lengths ${actual.length} vs ${expected.length}, first difference at ${firstDifference(actual, expected)}`,
  );
}

test("special ids and vocabulary match the golden file", () => {
  assert.equal(tokenizer.bosId, golden.bos_id);
  assert.equal(tokenizer.eosId, golden.eos_id);
  assert.equal(tokenizer.padId, golden.pad_id);
  assert.equal(tokenizer.vocabSize, 49408);
  assert.equal(tokenizer.commaId, 267);
  assert.equal(golden.cases.length, 25);
});

for (const c of golden.cases) {
  const name = JSON.stringify(c.prompt).slice(0, 60);
  test(`golden ${name}`, () => {
    const tokens = tokenizer.tokenize(c.prompt);
    assertSameList(tokens, c.tokens.slice(1, -1), `tokens of ${name}`);
    assertSameList(tokenizer.encodePadded(c.prompt, golden.max_length), c.input_ids, `input_ids of ${name}`);
    assertSameList(tokenizer.encodeUntruncated(c.prompt), c.untruncated_ids, `untruncated_ids of ${name}`);
    assert.equal(tokenizer.encode(c.prompt).length, c.num_tokens_without_specials);
  });
}

test("75 content tokens fit in one window, the 76th is truncated", () => {
  const a75 = Array(75).fill("a").join(" ");
  const padded = tokenizer.encodePadded(a75);
  assert.equal(padded.length, 77);
  assert.equal(padded[75], 320);
  assert.equal(padded[76], 49407);
  const padded76 = tokenizer.encodePadded(`${a75} b`);
  assert.deepEqual(padded76, padded);
});

test("chunkIds wraps every 75 content tokens in BOS/EOS and pads to 77", () => {
  const ids = tokenizer.encode(Array(160).fill("a").join(" "));
  assert.equal(ids.length, 160);
  const chunks = tokenizer.chunkIds(ids);
  assert.equal(chunks.length, 3);
  for (const chunk of chunks) {
    assert.equal(chunk.length, 77);
    assert.equal(chunk[0], 49406);
  }
  assert.equal(chunks[0][76], 49407);
  assert.deepEqual(chunks[0].slice(1, 76), ids.slice(0, 75));
  assert.deepEqual(chunks[1].slice(1, 76), ids.slice(75, 150));
  assert.deepEqual(chunks[2].slice(1, 11), ids.slice(150));
  assert.deepEqual(chunks[2].slice(11), Array(66).fill(49407));
  // Exactly 75 tokens: one window, no empty second one.
  assert.equal(tokenizer.chunkIds(ids.slice(0, 75)).length, 1);
});

test("an empty prompt gives one window of BOS + 76 EOS/pad", () => {
  const chunks = tokenizer.encodeChunks("");
  assert.equal(chunks.length, 1);
  assert.deepEqual(chunks[0], [49406, ...Array(76).fill(49407)]);
  assert.deepEqual(tokenizer.encodePadded(""), chunks[0]);
});

test("a custom pad id pads after EOS (SD2 style)", () => {
  const sd2 = loadClipTokenizer(fixturePath(golden.tokenizer_dir), { padId: 0 });
  const ids = sd2.encodePadded("a photo of a cat");
  assert.deepEqual(ids.slice(0, 8), [49406, 320, 1125, 539, 320, 2368, 49407, 0]);
  assert.ok(ids.slice(7).every((id) => id === 0));
});

test("special tokens are literal only in the exact spelling; lower-casing makes the rest match too", () => {
  // transformers cuts the exact strings out first; other spellings are lower-cased and then hit the
  // pre-tokenizer's special alternatives, which the BPE cache maps to themselves.
  assert.deepEqual(tokenizer.encode("<|StartOfText|>cat"), [49406, 2368]);
  assert.deepEqual(tokenizer.encode("x<|endoftext|>y"), [343, 49407, 344]);
});

test("text cleanup: controls dropped, whitespace collapsed, CJK spaced, NFC, lower-cased", () => {
  assert.equal(cleanupText("  A\u0007B\t\tC\u00a0D\u200bE  "), "ab c de");
  assert.equal(cleanupText("猫cat"), "猫 cat");
  assert.equal(cleanupText("カタカナ"), "カタカナ");
  assert.equal(cleanupText("Cafe\u0301"), "café");
  assert.equal(cleanupText("a\u2028b"), "a b");
  assert.equal(cleanupText("\ufffd\u0000"), "");
});

test("byte table is GPT-2's: 256 distinct printable characters, space → Ġ", () => {
  assert.equal(new Set(BYTE_TO_CHAR).size, 256);
  assert.equal(BYTE_TO_CHAR[0x20], "Ġ");
  assert.equal(BYTE_TO_CHAR[0x41], "A");
  assert.equal(BYTE_TO_CHAR[0xad], "Ń");
});

test("BPE merges the lowest-ranked pair first, all occurrences left to right", () => {
  // A toy vocabulary makes the merge order visible.
  const vocab = {
    "<|startoftext|>": 0,
    "<|endoftext|>": 1,
    a: 2,
    "a</w>": 3,
    aa: 4,
    "aa</w>": 5,
    "aaa</w>": 6,
  };
  const toy = new ClipTokenizer(vocab, [
    ["a", "a"],
    ["a", "a</w>"],
    ["aa", "a</w>"],
  ]);
  // a a a</w>: (a,a) outranks (a,a</w>), so aa a</w>, then aaa</w> (the other order would give a aa</w>).
  assert.deepEqual(toy.tokenize("aaa"), ["aaa</w>"]);
  // a a a a</w>: (a,a) merges at 0-1 only (left to right, non-overlapping, 2-3 is a,a</w>), then (a,a</w>).
  assert.deepEqual(toy.tokenize("aaaa"), ["aa", "aa</w>"]);
  assert.deepEqual(toy.encode("aaaa"), [4, 5]);
  // A single character gets </w> without any merge.
  assert.deepEqual(toy.tokenize("a"), ["a</w>"]);
});

test("merges.txt parsing skips the header and caps at transformers' merge count", () => {
  assert.deepEqual(parseMerges("#version: 0.2\ni n\nt h\n\n"), [
    ["i", "n"],
    ["t", "h"],
  ]);
  assert.equal(MAX_MERGES, 48894);
  assert.throws(() => parseMerges("#version: 0.2\nabc\n"), TokenizerLoadError);
});

test("a missing tokenizer folder is a clear error", () => {
  assert.throws(
    () => loadClipTokenizer("/nonexistent/tokenizer"),
    /tokenizer folder not found: \/nonexistent/,
  );
});
