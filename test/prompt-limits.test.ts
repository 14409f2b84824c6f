/**
 * Prompts that crashed, hung or answered 500 (issues 16 and 17): deep or unbalanced brackets, long
 * whitespace runs, many AND sub-prompts, huge words. The parsers are linear and refuse only what is
 * over a stated limit, with InvalidRequestError; the rewritten pieces give exactly what the
 * regexes they replace gave (checked against those regexes on random text).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { InvalidRequestError } from "../src/pipeline/invalid-request.js";
import {
  checkPromptLimits,
  MAX_BRACKET_DEPTH,
  MAX_PROMPT_LENGTH,
  MAX_SCHEDULED_CHARACTERS,
  MAX_SUBPROMPTS,
} from "../src/pipeline/prompt-limits.js";
import { promptSchedule, splitComposablePrompt } from "../src/pipeline/prompt-schedule.js";
import { validateRequest } from "../src/pipeline/request.js";
import { mergePairs } from "../src/tokenizer/clip-tokenizer.js";
import { loadClipTokenizer } from "../src/tokenizer/load-tokenizer.js";
import { PY_SPACE, PY_WORD, parsePromptAttention, splitAtBreaks } from "../src/tokenizer/prompt-weights.js";
import { fixturePath } from "./helpers/fixtures.js";
import { fuzzParameters } from "./helpers/fuzz.js";

/** The hang bound of these tests: each input below takes milliseconds once the parsers are linear. */
const HANG_MS = 20_000;

function request(prompt: string, negativePrompt = "", steps = 20) {
  return { prompt, negativePrompt, sampler: "Euler", steps, guidance: 7, seed: 1, width: 64, height: 64 };
}

describe("prompt limits: refused with a reason, never a stack overflow", () => {
  test("brackets nested 100 deep parse; 101 are refused in the schedule and the emphasis parser", () => {
    const nested = (n: number) => `${"(".repeat(n)}cat${")".repeat(n)}`;
    checkPromptLimits(nested(MAX_BRACKET_DEPTH), "", 20);
    for (const prompt of [nested(MAX_BRACKET_DEPTH + 1), "[".repeat(5000), "(".repeat(100_000)]) {
      assert.throws(
        () => checkPromptLimits(prompt, "", 20),
        (err: Error) =>
          err instanceof InvalidRequestError && /nested \(or left open\) more than 100/.test(err.message),
      );
    }
    // the emphasis parser alone (the schedule parser only sees a prompt with editing syntax)
    assert.throws(() => parsePromptAttention("(a".repeat(MAX_BRACKET_DEPTH + 1)), /more than 100 deep/);
    assert.throws(
      () => checkPromptLimits("cat", "(a".repeat(200), 20),
      (err: Error) => err instanceof InvalidRequestError && /^negative prompt: brackets/.test(err.message),
    );
  });

  test("AND: 16 sub-prompts run, 17 are refused", () => {
    checkPromptLimits(Array(MAX_SUBPROMPTS).fill("cat").join(" AND "), "", 20);
    assert.throws(
      () =>
        checkPromptLimits(
          Array(MAX_SUBPROMPTS + 1)
            .fill("cat")
            .join(" AND "),
          "",
          20,
        ),
      (err: Error) => err instanceof InvalidRequestError && /17 sub-prompts joined by AND/.test(err.message),
    );
  });

  test("length: 200,000 characters pass, one more is refused; a bad weight is the request's fault", () => {
    checkPromptLimits("a".repeat(MAX_PROMPT_LENGTH), "", 20);
    assert.throws(() => checkPromptLimits("a".repeat(MAX_PROMPT_LENGTH + 1), "", 20), InvalidRequestError);
    assert.throws(() => validateRequest(request("(cat:1.2.3)")), InvalidRequestError);
    assert.throws(
      () => validateRequest(request("cat", "(dog:1.2.3)")),
      (err: Error) => err instanceof InvalidRequestError && /^negative prompt: "1\.2\.3"/.test(err.message),
    );
  });

  test("editing and alternation: at most 1,000,000 characters of different texts to encode", () => {
    const options = Array.from({ length: 60 }, (_, i) => `o${i}`).join("|");
    const long = `${"x".repeat(20_000)} [${options}]`; // 60 different 20 KB texts
    assert.throws(
      () => promptSchedule(long, 150),
      (err: Error) => err instanceof InvalidRequestError && /more than 1000000 characters/.test(err.message),
    );
    // [a|b] on a long prompt is two texts, however many steps
    const two = promptSchedule(`${"x".repeat(100_000)} [a|b]`, 150);
    assert.equal(new Set(two.map((e) => e.text)).size, 2);
    assert.ok(MAX_SCHEDULED_CHARACTERS >= 2 * 100_000);
  });

  test("adversarial 200 KB prompts: every parser finishes, answering a result or InvalidRequestError", {
    timeout: HANG_MS,
  }, () => {
    const n = 200_000;
    const prompts = [
      `a${" ".repeat(n - 2)}b`, // the AND weight and BREAK regexes were quadratic here
      `${" ".repeat(n / 2)}BREAK${" ".repeat(n / 2 - 10)}`,
      "(a".repeat(n / 2),
      "(a]".repeat(n / 3),
      "[a|".repeat(n / 3),
      "[a:b:1]".repeat(n / 7),
      "\\(".repeat(n / 2), // one span each: merging them used splice (quadratic)
      ":1".repeat(n / 2),
      "a AND ".repeat(n / 6),
      "[[[[[[[[[[a:b:0.5]".repeat(n / 18),
      "(((((((((( a ] ".repeat(n / 15),
    ];
    for (const prompt of prompts) {
      for (const [p, neg] of [
        [prompt, ""],
        ["cat", prompt],
      ]) {
        try {
          checkPromptLimits(p, neg, 150);
        } catch (err) {
          assert.ok(err instanceof InvalidRequestError, `${prompt.slice(0, 20)}…: ${(err as Error).stack}`);
        }
      }
    }
  });

  test("a 64,000-letter word is tokenized (the BPE loop was quadratic: 63 s)", { timeout: HANG_MS }, () => {
    const tokenizer = loadClipTokenizer(fixturePath("models", "tiny-sd15", "tokenizer"));
    let seed = 7;
    const letter = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return "abcdefghijklmnopqrstuvwxyz"[seed % 26];
    };
    const word = Array.from({ length: 64_000 }, letter).join("");
    const ids = tokenizer.encode(word);
    assert.ok(ids.length > 10_000 && ids.length < 64_000, `${ids.length} tokens`);
  });
});

describe("rewritten parsers give what the regexes they replace gave", () => {
  // the alphabet where the regexes' corner cases live: whitespace kinds, digits of two scripts, ':'
  const tricky = fc.constantFrom(
    " ",
    "\t",
    "\n",
    "\u3000",
    ":",
    "1",
    "٣",
    ".",
    "-",
    "+",
    "a",
    "_",
    "B",
    "R",
    "E",
    "A",
    "K",
    "AND",
    "BREAK",
  );
  const text = fc.array(tricky, { maxLength: 40 }).map((parts) => parts.join(""));

  test("AND sub-prompt weights: A1111's re_weight", () => {
    const RE_WEIGHT = new RegExp(
      `^((?:${PY_SPACE}|.)*?)(?:${PY_SPACE}*:${PY_SPACE}*([-+]?(?:\\p{Nd}+\\.?|\\p{Nd}*\\.\\p{Nd}+)))?${PY_SPACE}*$`,
      "u",
    );
    fc.assert(
      fc.property(text, (prompt) => {
        const got = splitComposablePrompt(prompt);
        const parts = prompt.split(new RegExp(`(?<!${PY_WORD})AND(?!${PY_WORD})`, "u"));
        assert.equal(got.length, parts.length);
        parts.forEach((part, i) => {
          const m = RE_WEIGHT.exec(part)!;
          assert.equal(got[i].text, m[1], JSON.stringify(part));
          if (m[2] === undefined) assert.equal(got[i].weight, 1);
          else assert.ok(Number.isFinite(got[i].weight));
        });
      }),
      fuzzParameters(2000),
    );
  });

  test("BREAK: A1111's re_break as a split", () => {
    const RE_BREAK = new RegExp(`${PY_SPACE}*(?<!${PY_WORD})BREAK(?!${PY_WORD})${PY_SPACE}*`, "u");
    fc.assert(
      fc.property(text, (prompt) => assert.deepEqual(splitAtBreaks(prompt), prompt.split(RE_BREAK))),
      fuzzParameters(2000),
    );
  });

  test("BPE with a heap: the same symbols as transformers' merge-all-occurrences loop", () => {
    /** The loop sdlite used before (and transformers uses): quadratic, kept here as the reference. */
    const byRounds = (initial: readonly string[], ranks: ReadonlyMap<string, number>) => {
      let symbols = [...initial];
      for (;;) {
        let best = -1;
        let bestRank = Number.POSITIVE_INFINITY;
        for (let i = 0; i + 1 < symbols.length; i++) {
          const rank = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
          if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
        }
        if (best < 0) return symbols;
        const [first, second] = [symbols[best], symbols[best + 1]];
        const merged: string[] = [];
        for (let i = 0; i < symbols.length; ) {
          if (symbols[i] === first && symbols[i + 1] === second) {
            merged.push(first + second);
            i += 2;
          } else merged.push(symbols[i++]);
        }
        symbols = merged;
      }
    };
    // merges as BPE learns them: each joins two tokens that exist by then
    const merges = fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 30 }).map((picks) => {
      const tokens = ["a", "b", "c"];
      const ranks = new Map<string, number>();
      for (const [x, y] of picks) {
        const [l, r] = [tokens[x % tokens.length], tokens[y % tokens.length]];
        if (ranks.has(`${l} ${r}`)) continue;
        ranks.set(`${l} ${r}`, ranks.size);
        tokens.push(l + r);
      }
      return ranks;
    });
    const word = fc.array(fc.constantFrom("a", "b", "c"), { minLength: 1, maxLength: 60 });
    fc.assert(
      fc.property(merges, word, (ranks, symbols) =>
        assert.deepEqual(mergePairs(symbols, ranks), byRounds(symbols, ranks)),
      ),
      fuzzParameters(2000),
    );
  });
});
