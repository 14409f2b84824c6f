/**
 * AUTOMATIC1111's emphasis syntax, parsed exactly like `parse_prompt_attention` in its
 * `modules/prompt_parser.py`: `(a)` ×1.1, `[a]` ÷1.1, `(a:1.3)` ×1.3, nesting multiplies, unclosed
 * brackets are closed at the end, `\(` `\)` `\[` `\]` `\\` are literal, `BREAK` becomes its own span
 * with weight -1, and neighbouring spans of equal weight are merged.
 */

export interface WeightedSpan {
  text: string;
  weight: number;
}

/** A prompt the emphasis syntax cannot read (A1111 fails on the same prompts). */
export class PromptSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PromptSyntaxError";
  }
}

/**
 * Most brackets open at once. A1111 has no limit; real prompts stay under ten, and past a few
 * hundred the weights are 1.1^n (infinite) while the parse's cost grows with the depth.
 */
export const MAX_BRACKET_DEPTH = 100;

/** A1111 marks BREAK with this weight (a span that a bracket multiplied is ordinary text again). */
export const BREAK_WEIGHT = -1;

const ROUND_BRACKET_MULTIPLIER = 1.1;
const SQUARE_BRACKET_MULTIPLIER = 1 / 1.1;

// Python's str.isspace() characters, which `\s` means in A1111's (Python) patterns.
export const PY_SPACE =
  "[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
// Python's Unicode `\w`, for the word boundaries around BREAK.
export const PY_WORD = "[\\p{L}\\p{N}_]";

// The alternatives of A1111's re_attention, in its order; `\d` is any Unicode decimal digit in Python.
const ATTENTION_TOKEN = new RegExp(
  [
    "\\\\\\(",
    "\\\\\\)",
    "\\\\\\[",
    "\\\\\\]",
    "\\\\\\\\",
    "\\\\",
    "\\(",
    "\\[",
    `:${PY_SPACE}*([+-]?[.\\p{Nd}]+)${PY_SPACE}*\\)`,
    "\\)",
    "\\]",
    "[^\\\\()[\\]:]+",
    ":",
  ].join("|"),
  "gu",
);

const SPACE_CHAR = new RegExp(`^${PY_SPACE}$`, "u");
const BREAK_WORD = new RegExp(`(?<!${PY_WORD})BREAK(?!${PY_WORD})`, "gu");

/**
 * `text.split(re_break)` for A1111's re_break, `\s*\bBREAK\b\s*`, without that regex: its leading
 * `\s*` made the search retry every whitespace run to its end (quadratic in a long run of spaces).
 * Each BREAK takes the whitespace on both sides with it.
 */
export function splitAtBreaks(text: string): string[] {
  const parts: string[] = [];
  let from = 0;
  for (const match of text.matchAll(BREAK_WORD)) {
    let start = match.index;
    if (start < from) continue;
    while (start > from && SPACE_CHAR.test(text[start - 1])) start--;
    let end = match.index + match[0].length;
    while (end < text.length && SPACE_CHAR.test(text[end])) end++;
    parts.push(text.slice(from, start));
    from = end;
  }
  parts.push(text.slice(from));
  return parts;
}

const DECIMAL_DIGIT = /\p{Nd}/u;

/** Value of a Unicode decimal digit: they come in runs of ten, 0 to 9 (a Unicode stability guarantee). */
function decimalDigitValue(ch: string): number {
  const cp = ch.codePointAt(0)!;
  let start = cp;
  while (DECIMAL_DIGIT.test(String.fromCodePoint(start - 1))) start--;
  return (cp - start) % 10;
}

/** Python's float() for what the weight pattern can capture: sign, digits (any script) and dots. */
export function parseWeight(spelled: string): number {
  const ascii = spelled.replace(/\p{Nd}/gu, (d) => String(decimalDigitValue(d)));
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(ascii)) {
    // A1111 fails the same way (Python's float() raises) rather than guessing.
    throw new PromptSyntaxError(`prompt: "${spelled}" is not a valid emphasis weight`);
  }
  return Number(ascii);
}

/** Splits `prompt` into (text, weight) spans; BREAK is `{ text: "BREAK", weight: -1 }`. */
export function parsePromptAttention(prompt: string): WeightedSpan[] {
  const res: WeightedSpan[] = [];
  const roundBrackets: number[] = [];
  const squareBrackets: number[] = [];

  const multiplyRange = (start: number, multiplier: number) => {
    for (let p = start; p < res.length; p++) res[p].weight *= multiplier;
  };

  for (const match of prompt.matchAll(ATTENTION_TOKEN)) {
    const text = match[0];
    const weight = match[1];
    if (text.startsWith("\\")) {
      res.push({ text: text.slice(1), weight: 1.0 });
    } else if (text === "(" || text === "[") {
      if (roundBrackets.length + squareBrackets.length >= MAX_BRACKET_DEPTH) {
        throw new PromptSyntaxError(
          `prompt: brackets nested (or left open) more than ${MAX_BRACKET_DEPTH} deep; write literal brackets as \\( \\[`,
        );
      }
      (text === "(" ? roundBrackets : squareBrackets).push(res.length);
    } else if (weight !== undefined && roundBrackets.length > 0) {
      multiplyRange(roundBrackets.pop()!, parseWeight(weight));
    } else if (text === ")" && roundBrackets.length > 0) {
      multiplyRange(roundBrackets.pop()!, ROUND_BRACKET_MULTIPLIER);
    } else if (text === "]" && squareBrackets.length > 0) {
      multiplyRange(squareBrackets.pop()!, SQUARE_BRACKET_MULTIPLIER);
    } else {
      splitAtBreaks(text).forEach((part, i) => {
        if (i > 0) res.push({ text: "BREAK", weight: BREAK_WEIGHT });
        res.push({ text: part, weight: 1.0 });
      });
    }
  }

  for (const pos of roundBrackets) multiplyRange(pos, ROUND_BRACKET_MULTIPLIER);
  for (const pos of squareBrackets) multiplyRange(pos, SQUARE_BRACKET_MULTIPLIER);

  if (res.length === 0) res.push({ text: "", weight: 1.0 });

  // Merge runs of identical weights (exact float equality, as A1111 does), in one pass.
  const merged: WeightedSpan[] = [];
  for (const span of res) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.weight === span.weight) last.text += span.text;
    else merged.push(span);
  }
  return merged;
}

/** True for the span A1111 treats as BREAK: exactly the text "BREAK" with weight -1. */
export function isBreakSpan(span: WeightedSpan): boolean {
  return span.text === "BREAK" && span.weight === BREAK_WEIGHT;
}
