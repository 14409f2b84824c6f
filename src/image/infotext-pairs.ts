/**
 * The `Key: value, Key: value` pairs of an infotext's last line, found exactly where sdlite's
 * regex (A1111's re_param plus bare JSON objects) found them with `matchAll`:
 *
 *   \s*([\p{L}\p{N}_][\p{L}\p{N}_ \-/]+):\s*("(?:\\.|[^\\"])+"|\{(?:"(?:\\.|[^\\"])*"|[^{}"])*\}(?=\s*(?:,|$))|[^,]*)(?:,|$)
 *
 * but in time linear in the line's length. As a regex, every start position re-read the run of key
 * characters after it, so a line of 100,000 letters took 10^10 steps (a 557-byte compressed
 * request blocked the server for a minute). Here a failed start skips the positions that must fail
 * the same way: every position inside the run of key characters it read.
 *
 * Each part of the pattern has a single way to match, which is what makes the scan exact:
 * a key is the whole run of key characters (a shorter one is followed by a key character, never
 * ':'); `\s*` before a value is greedy and the last alternative always matches after it; inside
 * quotes a backslash always starts a pair, so the closing quote is the first unpaired one.
 */

export interface InfotextPair {
  readonly key: string;
  /** As written: quotes included. */
  readonly value: string;
}

/** Character steps taken, to show the scan is linear (tests). */
export interface ScanStats {
  steps: number;
}

const KEY_FIRST = /^[\p{L}\p{N}_]$/u;
const KEY_CHAR = /^[\p{L}\p{N}_ \-/]$/u;
const SPACE = /^\s$/u;
/** What `.` does not match: a backslash before one of these pairs with nothing. */
const LINE_TERMINATOR = /^[\n\r\u2028\u2029]$/;

/** The code point at `i` as a string (one or two UTF-16 units), as the `u` flag sees text. */
function codePointAt(text: string, i: number): string {
  const cp = text.codePointAt(i);
  return cp === undefined ? "" : String.fromCodePoint(cp);
}

class PairScanner {
  constructor(
    private readonly text: string,
    private readonly stats: ScanStats,
  ) {}

  private step(n = 1): void {
    this.stats.steps += n;
  }

  /** End of a `"…"` whose opening quote is at `open` (index after the closing quote), or -1. */
  private quoted(open: number, allowEmpty: boolean): number {
    const { text } = this;
    let i = open + 1;
    for (;;) {
      this.step();
      if (i >= text.length) return -1;
      const ch = text[i];
      if (ch === '"') return allowEmpty || i > open + 1 ? i + 1 : -1;
      if (ch === "\\") {
        if (i + 1 >= text.length || LINE_TERMINATOR.test(text[i + 1])) return -1;
        i += 2;
      } else i++;
    }
  }

  /** End of a bare JSON object `{…}` (strings inside may hold braces), or -1. */
  private object(open: number): number {
    const { text } = this;
    let i = open + 1;
    for (;;) {
      this.step();
      if (i >= text.length) return -1;
      const ch = text[i];
      if (ch === "}") return i + 1;
      if (ch === "{") return -1;
      if (ch === '"') {
        i = this.quoted(i, true);
        if (i < 0) return -1;
      } else i++;
    }
  }

  /** Where `[^,]*` stops. */
  private plain(from: number): number {
    const comma = this.text.indexOf(",", from);
    const end = comma < 0 ? this.text.length : comma;
    this.step(end - from + 1);
    return end;
  }

  /** Skips `\s*`; returns the first position that is not whitespace. */
  private spaces(from: number): number {
    let i = from;
    while (i < this.text.length && SPACE.test(this.text[i])) {
      this.step();
      i++;
    }
    return i;
  }

  /** Index of the end of the value starting at `v` (before the `,` or end that follows it). */
  private value(v: number): number {
    const { text } = this;
    const endsPair = (e: number) => e === text.length || text[e] === ",";
    if (text[v] === '"') {
      const e = this.quoted(v, false);
      if (e >= 0 && endsPair(e)) return e;
    } else if (text[v] === "{") {
      const e = this.object(v);
      if (e >= 0 && endsPair(e)) return e;
    }
    return this.plain(v);
  }

  /**
   * The pair matched at `p`, or where the next start worth trying is (every start before it fails
   * the way `p` did).
   */
  matchAt(p: number): { pair: InfotextPair; end: number } | { retry: number } {
    const { text } = this;
    const q = this.spaces(p);
    if (q >= text.length) return { retry: text.length + 1 };
    const first = codePointAt(text, q);
    this.step();
    if (!KEY_FIRST.test(first)) return { retry: q + first.length };
    let r = q + first.length;
    for (let ch = codePointAt(text, r); ch !== "" && KEY_CHAR.test(ch); ch = codePointAt(text, r)) {
      this.step();
      r += ch.length;
    }
    // starts inside the run read the same run and stop at the same character
    if (r === q + first.length || text[r] !== ":") return { retry: r };
    const v = this.spaces(r + 1);
    const e = this.value(v);
    return { pair: { key: text.slice(q, r), value: text.slice(v, e) }, end: e < text.length ? e + 1 : e };
  }
}

/** The pairs of `line` in order, as `line.matchAll(PARAM_PATTERN)` gives them. */
export function scanInfotextPairs(line: string, stats: ScanStats = { steps: 0 }): InfotextPair[] {
  const scanner = new PairScanner(line, stats);
  const pairs: InfotextPair[] = [];
  let p = 0;
  while (p <= line.length) {
    const result = scanner.matchAt(p);
    if ("pair" in result) {
      pairs.push(result.pair);
      p = result.end;
      if (p === line.length) break;
    } else p = result.retry;
  }
  return pairs;
}
