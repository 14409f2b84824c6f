/**
 * Fuzzing the prompt path up to the text encoder: random Unicode, soups of the syntax's own tokens
 * and such soups repeated up to 200 KB, as prompt and negative prompt, over 1-150 steps. Every
 * input passes validateRequest's prompt checks and is split, scheduled, parsed for emphasis and
 * tokenized into windows, or is refused with InvalidRequestError; anything else (a RangeError from
 * a stack overflow, a TypeError) is a crash, more than HANG_MS for one input a hang, and a resident
 * set over MEMORY_BOUND_BYTES a failure.
 * CI tries a few hundred inputs; `npm run fuzz` (SDLITE_FUZZ_RUNS) many more.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import fc from "fast-check";
import { InvalidRequestError } from "../src/pipeline/invalid-request.js";
import { checkPromptLimits } from "../src/pipeline/prompt-limits.js";
import { promptSchedule, splitComposablePrompt } from "../src/pipeline/prompt-schedule.js";
import { loadClipTokenizer } from "../src/tokenizer/load-tokenizer.js";
import { tokenizeWeightedPrompt } from "../src/tokenizer/prompt-chunks.js";
import { fixturePath } from "./helpers/fixtures.js";
import { checkMemory, fuzzParameters, newTally, reportTally } from "./helpers/fuzz.js";

/** One input's bound: the 200 KB adversarial prompts take well under a second each. */
const HANG_MS = 10_000;
const MAX_PROMPT = 200_000;

const tokenizer = loadClipTokenizer(fixturePath("models", "tiny-sd15", "tokenizer"));
const tally = newTally();
after(() => reportTally("prompt parser and tokenizer", tally, { hangBoundMs: HANG_MS }));

const SYNTAX = [
  "(",
  ")",
  "[",
  "]",
  ":",
  "|",
  "\\",
  "\\(",
  ",",
  " ",
  "\n",
  "\t",
  "\u3000",
  "AND",
  " AND ",
  "BREAK",
  " BREAK ",
  "1",
  "0.5",
  "1.2.3",
  "-2",
  "1e400",
  "٣",
  ".",
  "a",
  "cat",
  "<lora:x:0.5>",
  "𝐀",
  "\ud800",
  "é",
  "<|endoftext|>",
];

const soup = fc.array(fc.constantFrom(...SYNTAX), { maxLength: 60 }).map((t) => t.join(""));
const prompt = fc.oneof(
  fc.string({ unit: "binary", maxLength: 3000 }),
  soup,
  fc.string({ unit: fc.constantFrom(...SYNTAX), maxLength: 4000 }),
  // a soup repeated to a length of up to 200 KB
  fc
    .tuple(soup, fc.integer({ min: 1, max: MAX_PROMPT }))
    .map(([s, n]) =>
      s.length === 0 ? "" : s.repeat(Math.max(1, Math.floor(Math.min(n, MAX_PROMPT) / s.length))),
    ),
);

/** Everything validateRequest and the encoder do with a prompt, short of running the network. */
function promptPath(text: string, negative: string, steps: number): void {
  checkPromptLimits(text, negative, steps);
  for (const part of [...splitComposablePrompt(text).map((s) => s.text), negative]) {
    for (const entry of promptSchedule(part, steps)) tokenizeWeightedPrompt(entry.text, tokenizer);
  }
}

test("fuzz the prompt path: parsed and tokenized, or refused with InvalidRequestError", {
  timeout: 600_000,
}, () => {
  fc.assert(
    fc.property(prompt, prompt, fc.integer({ min: 1, max: 150 }), (text, negative, steps) => {
      tally.inputs++;
      const started = performance.now();
      try {
        promptPath(text, negative, steps);
      } catch (err) {
        if (!(err instanceof InvalidRequestError)) {
          tally.crashes++;
          throw err;
        }
        assert.ok(!err.message.includes("\n"), "one-line message");
      }
      const ms = performance.now() - started;
      if (ms > HANG_MS) {
        tally.hangs++;
        assert.fail(`${ms.toFixed(0)} ms for a ${text.length}-character prompt`);
      }
      checkMemory(tally, `a ${text.length}-character prompt`);
    }),
    fuzzParameters(150),
  );
});
