import assert from "node:assert/strict";
import { test } from "node:test";
import { loadClipTokenizer } from "../src/tokenizer/load-tokenizer.js";
import { chunkWeightedSpans, tokenizeWeightedPrompt } from "../src/tokenizer/prompt-chunks.js";
import { isBreakSpan, parsePromptAttention, type WeightedSpan } from "../src/tokenizer/prompt-weights.js";
import { fixturePath } from "./helpers/fixtures.js";

const spans = (prompt: string) => parsePromptAttention(prompt).map((s) => [s.text, s.weight]);

// The doctests of A1111's modules/prompt_parser.py, with its printed (Python repr) weights.
test("A1111 doctest: plain and simple emphasis", () => {
  assert.deepEqual(spans("normal text"), [["normal text", 1.0]]);
  assert.deepEqual(spans("an (important) word"), [
    ["an ", 1.0],
    ["important", 1.1],
    [" word", 1.0],
  ]);
  assert.deepEqual(spans("(unbalanced"), [["unbalanced", 1.1]]);
  assert.deepEqual(spans("\\(literal\\]"), [["(literal]", 1.0]]);
  assert.deepEqual(spans("(unnecessary)(parens)"), [["unnecessaryparens", 1.1]]);
});

test("A1111 doctest: nesting multiplies, in A1111's float order", () => {
  assert.deepEqual(spans("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky)))."), [
    ["a ", 1.0],
    ["house", 1.5730000000000004],
    [" ", 1.1],
    ["on", 1.0],
    [" a ", 1.1],
    ["hill", 0.55],
    [", sun, ", 1.1],
    ["sky", 1.4641000000000006],
    [".", 1.1],
  ]);
});

test("square brackets divide by 1.1, also when left open", () => {
  assert.deepEqual(spans("[unbalanced"), [["unbalanced", 1 / 1.1]]);
  assert.deepEqual(spans("a [[b]]"), [
    ["a ", 1.0],
    ["b", 1 / 1.1 / 1.1],
  ]);
  assert.deepEqual(spans("a ] b )"), [["a ] b )", 1.0]]);
});

test("explicit weights: spaces allowed, signs, weight without an open bracket is text", () => {
  assert.deepEqual(spans("(cat: 0.5 )"), [["cat", 0.5]]);
  assert.deepEqual(spans("(cat:-1)"), [["cat", -1]]);
  assert.deepEqual(spans("(cat:.5)"), [["cat", 0.5]]);
  assert.deepEqual(spans("cat:1.2)"), [["cat:1.2)", 1.0]]);
  assert.deepEqual(spans("a:b"), [["a:b", 1.0]]);
  assert.deepEqual(spans("(a:b)"), [["a:b", 1.1]]);
  // Python's float() reads any script's decimal digits.
  assert.deepEqual(spans("(cat:\u0661.\u0665)"), [["cat", 1.5]]);
  assert.throws(() => parsePromptAttention("(cat:1.2.3)"), /"1\.2\.3" is not a valid emphasis weight/);
});

test("escapes: \\\\ is a backslash, a lone backslash disappears", () => {
  assert.deepEqual(spans("a \\\\ b"), [["a \\ b", 1.0]]);
  assert.deepEqual(spans("a \\b"), [["a b", 1.0]]);
  assert.deepEqual(spans("\\(a\\) (b)"), [
    ["(a) ", 1.0],
    ["b", 1.1],
  ]);
});

test("BREAK is its own span with weight -1, whitespace around it swallowed", () => {
  assert.deepEqual(spans("(a:1.2) BREAK b"), [
    ["a", 1.2],
    ["", 1.0],
    ["BREAK", -1],
    ["b", 1.0],
  ]);
  assert.deepEqual(spans("a\nBREAK\tb"), [
    ["a", 1.0],
    ["BREAK", -1],
    ["b", 1.0],
  ]);
  // Only a whole word: BREAKFAST, xBREAK and éBREAK are text (Python's \b is Unicode-aware).
  assert.deepEqual(spans("BREAKFAST xBREAK éBREAK break"), [["BREAKFAST xBREAK éBREAK break", 1.0]]);
  const inBrackets = parsePromptAttention("(a BREAK b)");
  assert.deepEqual(
    inBrackets.map((s) => [s.text, s.weight]),
    [
      ["a", 1.1],
      ["BREAK", -1.1],
      ["b", 1.1],
    ],
  );
  assert.equal(inBrackets.some(isBreakSpan), false, "a multiplied BREAK is plain text, as in A1111");
});

test("empty prompt gives one empty span", () => {
  assert.deepEqual(spans(""), [["", 1.0]]);
  assert.deepEqual(spans("()"), [["", 1.0]]);
});

// ---- chunking (A1111 tokenize_line) with the real CLIP vocabulary ----

const tokenizer = loadClipTokenizer(fixturePath("models", "tiny-sd15", "tokenizer"));
const BOS = 49406;
const EOS = 49407;
const A = tokenizer.encode("a")[0];
const COMMA = tokenizer.commaId!;
const words = (n: number, w = "a") => Array(n).fill(w).join(" ");

test("a short weighted prompt is one window with per-token weights", () => {
  const { chunks, tokenCount } = tokenizeWeightedPrompt("a (cat:1.5) photo", tokenizer);
  assert.equal(chunks.length, 1);
  const [cat, photo] = [tokenizer.encode("cat")[0], tokenizer.encode("photo")[0]];
  assert.deepEqual(chunks[0].ids, [BOS, A, cat, photo, ...Array(73).fill(EOS)]);
  assert.deepEqual(chunks[0].weights, [1, 1, 1.5, 1, ...Array(73).fill(1)]);
  assert.equal(tokenCount, 3);
  // Without emphasis syntax the ids are the plain padded encoding.
  assert.deepEqual(
    tokenizeWeightedPrompt("a photo of a cat", tokenizer).chunks[0].ids,
    tokenizer.encodePadded("a photo of a cat"),
  );
});

test("an empty prompt gives one window of BOS + EOS padding", () => {
  const { chunks, tokenCount } = tokenizeWeightedPrompt("", tokenizer);
  assert.equal(chunks.length, 1);
  assert.deepEqual(chunks[0].ids, [BOS, ...Array(76).fill(EOS)]);
  assert.deepEqual(chunks[0].weights, Array(77).fill(1));
  assert.equal(tokenCount, 0);
});

test("BREAK pads the current window and starts the next", () => {
  const { chunks, tokenCount } = tokenizeWeightedPrompt("a BREAK [a]", tokenizer);
  assert.equal(chunks.length, 2);
  assert.deepEqual(chunks[0].ids, [BOS, A, ...Array(75).fill(EOS)]);
  assert.deepEqual(chunks[1].ids, [BOS, A, ...Array(75).fill(EOS)]);
  assert.equal(chunks[1].weights[1], 1 / 1.1);
  assert.equal(tokenCount, 76);
  // A leading BREAK gives an empty first window, as in A1111.
  assert.equal(tokenizeWeightedPrompt("BREAK a", tokenizer).chunks.length, 2);
});

test("long prompts without commas split every 75 tokens", () => {
  const { chunks, tokenCount } = tokenizeWeightedPrompt(words(160), tokenizer);
  assert.equal(chunks.length, 3);
  for (const c of chunks) {
    assert.equal(c.ids.length, 77);
    assert.equal(c.weights.length, 77);
    assert.equal(c.ids[0], BOS);
    assert.equal(c.ids[76], EOS);
  }
  assert.deepEqual(chunks[0].ids.slice(1, 76), Array(75).fill(A));
  assert.deepEqual(chunks[2].ids.slice(1, 12), [...Array(10).fill(A), EOS]);
  assert.equal(tokenCount, 160);
  // Exactly 75 tokens fit one window.
  assert.equal(tokenizeWeightedPrompt(words(75), tokenizer).chunks.length, 1);
});

test("a full window moves the words after a comma within the last 20 tokens into the next", () => {
  // 70 a, comma (token index 70), 10 more a: the window fills at 75 with the comma 5 tokens back.
  const { chunks, tokenCount } = tokenizeWeightedPrompt(`${words(70)}, (${words(10)})`, tokenizer);
  assert.equal(chunks.length, 2);
  assert.deepEqual(chunks[0].ids, [BOS, ...Array(70).fill(A), COMMA, ...Array(5).fill(EOS)]);
  assert.deepEqual(chunks[0].weights, Array(77).fill(1));
  assert.deepEqual(chunks[1].ids.slice(0, 12), [BOS, ...Array(10).fill(A), EOS]);
  // The moved tokens keep their weights.
  assert.deepEqual(chunks[1].weights.slice(0, 12), [1, ...Array(10).fill(1.1), 1]);
  assert.equal(tokenCount, 85);
});

test("the comma rule reaches back exactly 20 tokens and can be switched off", () => {
  const commaAt = (index: number, opts = {}) =>
    tokenizeWeightedPrompt(`${words(index)}, ${words(80 - index)}`, tokenizer, opts).chunks[0].ids;
  // Comma at content index 55: 75 - 55 = 20 ≤ 20 → break after it.
  assert.deepEqual(commaAt(55).slice(55, 58), [A, COMMA, EOS]);
  // Comma at 54: 21 back → no backtrack, the window is filled.
  assert.deepEqual(commaAt(54).slice(54, 58), [A, COMMA, A, A]);
  assert.equal(commaAt(54)[75], A);
  assert.equal(commaAt(55, { commaPaddingBacktrack: 0 })[75], A);
});

test("a comma as the 76th token starts the next window", () => {
  const { chunks } = tokenizeWeightedPrompt(`${words(75)}, a`, tokenizer);
  assert.equal(chunks.length, 2);
  assert.deepEqual(chunks[0].ids.slice(1, 76), Array(75).fill(A));
  assert.deepEqual(chunks[1].ids.slice(0, 4), [BOS, COMMA, A, EOS]);
});

test("pre-parsed spans can be chunked directly (emphasis off)", () => {
  const literal: WeightedSpan[] = [{ text: "(a)", weight: 1 }];
  const { chunks } = chunkWeightedSpans(literal, tokenizer);
  assert.deepEqual(chunks[0].ids.slice(0, 5), [BOS, ...tokenizer.encode("(a)"), EOS]);
});

test("an SD2-style pad id replaces everything after the first EOS", () => {
  const sd2 = { ...tokenizer, encode: (t: string) => tokenizer.encode(t), padId: 0 };
  const { chunks } = tokenizeWeightedPrompt("a a", sd2);
  assert.deepEqual(chunks[0].ids.slice(0, 6), [BOS, A, A, EOS, 0, 0]);
  assert.equal(chunks[0].ids[76], 0);
});
