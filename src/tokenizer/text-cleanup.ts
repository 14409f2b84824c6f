/**
 * The text normalisation transformers' slow CLIPTokenizer applies when `ftfy` is not installed: its
 * BasicTokenizer with lower-casing, no accent stripping and no punctuation splitting.
 */

// Categories per Python's unicodedata, as BasicTokenizer tests them.
const CONTROL = /^\p{C}$/u;
const SPACE_SEPARATOR = /^\p{Zs}$/u;
// After cleanup only " ", U+2028 and U+2029 are left of what Python's str.split() splits on.
const WHITESPACE_RUN = /\s+/u;

/** BasicTokenizer._clean_text: drop NUL, U+FFFD and controls; every whitespace character becomes " ". */
function cleanText(text: string): string {
  let out = "";
  for (const ch of text) {
    if (ch === "\t" || ch === "\n" || ch === "\r" || ch === " " || SPACE_SEPARATOR.test(ch)) {
      out += " ";
    } else if (ch !== "\u0000" && ch !== "\ufffd" && !CONTROL.test(ch)) {
      out += ch;
    }
  }
  return out;
}

/** BasicTokenizer._is_chinese_char: the CJK Unified Ideograph blocks (not kana, not hangul). */
export function isCjkIdeograph(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

function spaceAroundCjk(text: string): string {
  let out = "";
  for (const ch of text) {
    out += isCjkIdeograph(ch.codePointAt(0)!) ? ` ${ch} ` : ch;
  }
  return out;
}

/**
 * Cleans, splits CJK ideographs apart, NFC-normalises, lower-cases and joins the words with single spaces,
 * in BasicTokenizer.tokenize's order (CJK spacing happens before NFC).
 */
export function cleanupText(text: string): string {
  const normalized = spaceAroundCjk(cleanText(text)).normalize("NFC");
  return normalized
    .split(WHITESPACE_RUN)
    .filter((word) => word.length > 0)
    .map((word) => word.toLowerCase())
    .join(" ");
}
