/**
 * The infotext's `Key: value` scan (issue 17: a 557-byte png-info request blocked the server for a
 * minute, its regex being quadratic in the line's length): the same pairs as the regex it replaces
 * on random text, and a number of steps linear in the length on adversarial megabyte lines.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseInfotext } from "../src/image/infotext.js";
import { scanInfotextPairs } from "../src/image/infotext-pairs.js";
import { fuzzParameters } from "./helpers/fuzz.js";

/** The regex sdlite used (A1111's re_param plus bare JSON objects), kept as the reference. */
const PARAM_PATTERN =
  /\s*([\p{L}\p{N}_][\p{L}\p{N}_ \-/]+):\s*("(?:\\.|[^\\"])+"|\{(?:"(?:\\.|[^\\"])*"|[^{}"])*\}(?=\s*(?:,|$))|[^,]*)(?:,|$)/gu;

function byRegex(line: string) {
  return [...line.matchAll(PARAM_PATTERN)].map((m) => ({ key: m[1], value: m[2] }));
}

/** 1 MB lines built to make a backtracking scan re-read what it read. */
const MB = 1_000_000;
const ADVERSARIAL: Record<string, string> = {
  "letters, no colon": "a".repeat(MB),
  "key characters, no colon": "ab cd-ef/gh ".repeat(MB / 12),
  "spaces, no key": " ".repeat(MB),
  "unclosed quotes": 'k: "x, '.repeat(MB / 7),
  "quotes pairing across values": 'k: "a, k: "'.repeat(MB / 11),
  "objects with strings": 'k: {"a, k: {"'.repeat(MB / 12),
  escapes: 'k: "\\\\\\"'.repeat(MB / 8),
  "one-letter keys": "a:".repeat(MB / 2),
  "keys without values": "Steps: ".repeat(MB / 7),
  "astral letters": "𝐀".repeat(MB / 2),
  "valid pairs": "Steps: 20, ".repeat(MB / 11),
};

describe("infotext pairs", () => {
  test("the same pairs as the regex, on random text from the characters that matter", () => {
    const piece = fc.constantFrom(
      "a",
      "Steps",
      " ",
      "\t",
      ":",
      ",",
      '"',
      "\\",
      "{",
      "}",
      "-",
      "/",
      "1",
      "\u2028",
      "𝐀",
      "é",
      "Size: 512x512",
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const line = pieces.join("");
        assert.deepEqual(scanInfotextPairs(line), byRegex(line), JSON.stringify(line));
      }),
      fuzzParameters(5000),
    );
  });

  test("written infotexts and their corner cases read as before", () => {
    for (const line of [
      'Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: "a, b", Lora hashes: "x: 1, y: 2"',
      'Hashes: {"vae": "c6a580b13a", "model": "6ce0161689"}, Steps: 4',
      'Hashes: {"a": "}"} , Steps: 4',
      'Prompt: ""',
      "a:b, cd: , : x, é1: 2",
    ]) {
      assert.deepEqual(scanInfotextPairs(line), byRegex(line), line);
    }
  });

  test("1 MB adversarial lines: at most 6 steps per character", { timeout: 30_000 }, () => {
    for (const [name, line] of Object.entries(ADVERSARIAL)) {
      const stats = { steps: 0 };
      scanInfotextPairs(line, stats);
      assert.ok(
        stats.steps <= 6 * line.length,
        `${name}: ${stats.steps} steps for ${line.length} characters`,
      );
    }
  });

  test("a 1 MB adversarial infotext parses (the hang bound is the test's timeout)", {
    timeout: 30_000,
  }, () => {
    const text = `a cat\nNegative prompt: ${"b".repeat(1000)}\n${"ab cd ".repeat(MB / 6)}`;
    const parsed = parseInfotext(text);
    assert.equal(parsed.parameters.Steps, undefined);
    assert.ok(parsed.prompt.startsWith("a cat"));
  });
});
