/**
 * GPT-2's reversible byte → printable-character table (`bytes_to_unicode`), which CLIP's BPE works on:
 * printable Latin-1 bytes map to themselves, the other 68 (controls, space, …) to U+0100 and up, so no
 * BPE symbol is ever whitespace or a control character.
 */

function buildByteToChar(): readonly string[] {
  const isPrintable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCodePoint(isPrintable(b) ? b : next++);
  }
  return table;
}

/** `BYTE_TO_CHAR[b]` is the BPE character that stands for byte `b`. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

const utf8 = new TextEncoder();

/** UTF-8 bytes of `text`, each spelled as its BPE character. */
export function bytesToBpeChars(text: string): string {
  let out = "";
  for (const b of utf8.encode(text)) out += BYTE_TO_CHAR[b];
  return out;
}
