/**
 * AUTOMATIC1111's prompt editing, alternation and composable prompts, as text: a prompt and a step
 * count in, the prompt text of every step out. Follows `get_learned_conditioning_prompt_schedules`
 * and `get_multicond_prompt_list` of A1111's `modules/prompt_parser.py` (v1.10):
 *
 * - `[from:to:when]` is `from` up to step `when`, then `to`; `[to:when]` adds, `[from::when]` removes.
 *   `when` with a "." is a fraction of the steps (0.25), without one a step number (5).
 * - `[a|b|c]` takes the next alternative every step.
 * - both nest, and sit inside emphasis: `(a [b:c:3]:1.2)`.
 * - `a AND b :1.5` is two sub-prompts with guidance weights 1 and 1.5 (composable diffusion).
 *
 * A1111 parses with a lark grammar; this is a hand-written parser for the same language that picks
 * the same reading: a bracket group is prompt syntax wherever it is well formed, anything else is
 * text. Like A1111, a prompt that the grammar rejects as a whole (a `|` outside `[…|…]`, a lone `\`
 * at the end) is used as typed, with no editing. Emphasis and escapes are left in the texts for the
 * emphasis parser.
 */
import { MAX_BRACKET_DEPTH, PY_SPACE, PY_WORD, parseWeight } from "../tokenizer/prompt-weights.js";
import { InvalidRequestError } from "./invalid-request.js";

/** One stretch of a schedule: `text` is the prompt for the steps up to and including `endAtStep`. */
export interface ScheduledPrompt {
  readonly endAtStep: number;
  readonly text: string;
}

export interface ScheduleOptions {
  /**
   * Steps of a hires-fix second pass. A1111 then counts `when` from the start of the first pass:
   * integers beyond the first pass's steps and fractions above 1 fall in the second pass.
   */
  readonly hiresSteps?: number;
  /** A1111's "Use old prompt editing timelines": `when` < 1 is a fraction, anything else a step. */
  readonly oldScheduling?: boolean;
}

/** A sub-prompt of an `AND` prompt and the weight its guidance gets. */
export interface WeightedSubprompt {
  readonly text: string;
  readonly weight: number;
}

/**
 * Most characters of the different texts one prompt's schedule may hold. Each is encoded, so
 * `[a|b]` on a 100 KB prompt over 150 steps would otherwise encode 150 prompts of 100 KB each.
 */
export const MAX_SCHEDULED_CHARACTERS = 1_000_000;

type PromptNode =
  | string
  | { kind: "scheduled"; before: PromptNode[] | undefined; after: PromptNode[]; when: string }
  | { kind: "alternate"; options: PromptNode[][] };

/**
 * The prompt of each stretch of `steps` steps, in order; the last one ends at `steps`. A prompt
 * without editing or alternation gives `[{ endAtStep: steps, text: prompt }]`.
 */
export function promptSchedule(
  prompt: string,
  steps: number,
  options: ScheduleOptions = {},
): ScheduledPrompt[] {
  const hires = options.hiresSteps !== undefined && !options.oldScheduling;
  const total = hires ? options.hiresSteps! : steps;
  const nodes = new ScheduleParser(prompt).parseStart();
  if (nodes === undefined) return [{ endAtStep: total, text: prompt }];

  const toStep = (when: string): number => {
    let v = Number(when);
    if (options.oldScheduling) v = v < 1 ? v * total : v;
    else if (when.includes(".")) v = (v - (hires ? 1 : 0)) * total;
    else v -= hires ? steps : 0;
    if (!Number.isFinite(v)) {
      throw new InvalidRequestError(`prompt: the step "${when}" of a [from:to:when] edit is out of range`);
    }
    return Math.min(total, Math.trunc(v));
  };

  const boundaries = new Set([total]);
  let everyStep = false;
  visit(nodes, (node) => {
    if (node.kind === "alternate") {
      if (!everyStep) for (let s = 1; s <= total; s++) boundaries.add(s);
      everyStep = true;
    } else {
      const when = toStep(node.when);
      if (when >= 1) boundaries.add(when);
    }
  });
  const distinct = new Set<string>();
  let characters = 0;
  return [...boundaries]
    .sort((a, b) => a - b)
    .map((step) => {
      const text = textAt(nodes, step, toStep);
      if (!distinct.has(text)) {
        distinct.add(text);
        characters += text.length;
        if (characters > MAX_SCHEDULED_CHARACTERS) {
          throw new InvalidRequestError(
            `prompt: its editing and alternation over ${total} steps make more than ${MAX_SCHEDULED_CHARACTERS} characters of different prompts to encode; use fewer steps or a shorter prompt`,
          );
        }
      }
      return { endAtStep: step, text };
    });
}

/**
 * Index into `schedule` of the prompt for a 0-based step, as A1111's `reconstruct_cond_batch`
 * picks it: the first stretch whose end is ≥ step (so the first stretch also gets step 0), and the
 * first one past the end.
 */
export function scheduleIndexAt(schedule: readonly ScheduledPrompt[], step: number): number {
  const index = schedule.findIndex((entry) => step <= entry.endAtStep);
  return Math.max(index, 0);
}

const AND_SEPARATOR = new RegExp(`(?<!${PY_WORD})AND(?!${PY_WORD})`, "u");
const SPACE_CHAR = new RegExp(`^${PY_SPACE}$`, "u");
// The number of A1111's re_weight: `[-+]?(?:\d+\.?|\d*\.\d+)` with Python's Unicode \d.
const WEIGHT_NUMBER = /^[-+]?(?:\p{Nd}+\.?|\p{Nd}*\.\p{Nd}+)$/u;

/** Splits `a cat :1.2 AND a dog` into weighted sub-prompts, as A1111's `get_multicond_prompt_list`. */
export function splitComposablePrompt(prompt: string): WeightedSubprompt[] {
  return prompt.split(AND_SEPARATOR).map(subpromptWeight);
}

/**
 * A1111's re_weight, `^((?:\s|.)*?)(?:\s*:\s*(number))?\s*$`, read without a regex: as a regex its
 * lazy prefix retried every whitespace run to the end (quadratic in a long run of spaces). The
 * shortest prefix wins, so the weight is the number after the last ':' when only whitespace
 * surrounds it up to the end, and trailing whitespace is dropped either way.
 */
function subpromptWeight(part: string): WeightedSubprompt {
  const isSpace = (i: number) => SPACE_CHAR.test(part[i]);
  let end = part.length;
  while (end > 0 && isSpace(end - 1)) end--;
  const colon = end > 0 ? part.lastIndexOf(":", end - 1) : -1;
  if (colon >= 0) {
    let from = colon + 1;
    while (from < end && isSpace(from)) from++;
    const number = part.slice(from, end);
    if (WEIGHT_NUMBER.test(number)) {
      let textEnd = colon;
      while (textEnd > 0 && isSpace(textEnd - 1)) textEnd--;
      return { text: part.slice(0, textEnd), weight: parseWeight(number) };
    }
  }
  return { text: part.slice(0, end), weight: 1 };
}

function visit(nodes: readonly PromptNode[], fn: (node: Exclude<PromptNode, string>) => void): void {
  for (const node of nodes) {
    if (typeof node === "string") continue;
    if (node.kind === "alternate") {
      for (const option of node.options) visit(option, fn);
    } else {
      if (node.before) visit(node.before, fn);
      visit(node.after, fn);
    }
    fn(node);
  }
}

function textAt(nodes: readonly PromptNode[], step: number, toStep: (when: string) => number): string {
  let out = "";
  for (const node of nodes) {
    if (typeof node === "string") out += node;
    else if (node.kind === "alternate") {
      out += textAt(node.options[(step - 1) % node.options.length], step, toStep);
    } else {
      const chosen = step <= toStep(node.when) ? node.before : node.after;
      if (chosen) out += textAt(chosen, step, toStep);
    }
  }
  return out;
}

// lark's common.SIGNED_NUMBER, alternatives in its order (the first that matches wins).
const NUMBER = /[+-]?(?:[0-9]+[eE][+-]?[0-9]+|(?:[0-9]+\.(?:[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+)/y;
const WHITESPACE = new RegExp(`${PY_SPACE}+`, "uy");
/** Characters that end a run of plain text. */
const SPECIAL = new Set(["\\", "[", "]", "(", ")", ":", "|"]);

/** Appends without spreading into arguments (a spread of >100k nodes overflows the stack). */
function append(out: PromptNode[], nodes: readonly PromptNode[]): void {
  for (const node of nodes) out.push(node);
}

interface ParsedGroup {
  readonly end: number;
  readonly nodes: readonly PromptNode[] | undefined;
}

/**
 * Recursive descent over A1111's grammar. Inside brackets everything must be well formed; at the
 * top level a bracket group that is not is text, its brackets included.
 *
 * A group's parse depends only on where it starts, so each is parsed once and remembered: after a
 * failed group the top level retries one character later, and without the memo a prompt of many
 * unclosed brackets was re-read once per bracket (quadratic). Nesting deeper than
 * MAX_BRACKET_DEPTH is refused, before the recursion could overflow the stack.
 */
class ScheduleParser {
  private pos = 0;
  private depth = 0;
  private readonly groups = new Map<number, ParsedGroup>();

  constructor(private readonly text: string) {}

  /** `[…]` or `(…)` at the current position (memoised); undefined when it is not well formed. */
  private parseGroup(): readonly PromptNode[] | undefined {
    const start = this.pos;
    const known = this.groups.get(start);
    if (known) {
      this.pos = known.end;
      return known.nodes;
    }
    if (++this.depth > MAX_BRACKET_DEPTH) {
      throw new InvalidRequestError(
        `prompt: brackets nested (or left open) more than ${MAX_BRACKET_DEPTH} deep; write literal brackets as \\( \\[`,
      );
    }
    try {
      const nodes = this.text[start] === "[" ? this.parseSquare() : this.parseRound();
      this.groups.set(start, { end: this.pos, nodes });
      return nodes;
    } finally {
      this.depth--;
    }
  }

  /** The whole prompt, or undefined where A1111's grammar rejects it. */
  parseStart(): PromptNode[] | undefined {
    const out: PromptNode[] = [];
    const { text } = this;
    while (this.pos < text.length) {
      const ch = text[this.pos];
      if (ch === "[" || ch === "(") {
        const start = this.pos;
        const group = this.parseGroup();
        if (group !== undefined) {
          append(out, group);
          continue;
        }
        this.pos = start + 1;
        out.push(ch);
      } else if (ch === "]" || ch === ")" || ch === ":") {
        this.pos++;
        out.push(ch);
      } else {
        const plain = this.parsePlain();
        if (plain === undefined) return undefined; // a "|" or a lone "\" no rule takes
        out.push(plain);
      }
    }
    return out;
  }

  /** A run of text and well-formed groups, up to the first character it cannot take. */
  private parsePrompt(): PromptNode[] {
    const out: PromptNode[] = [];
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos];
      const start = this.pos;
      const part = ch === "[" || ch === "(" ? this.parseGroup() : undefined;
      if (part !== undefined) {
        append(out, part);
        continue;
      }
      this.pos = start;
      if (ch === "[" || ch === "(") return out;
      const plain = this.parsePlain();
      if (plain === undefined) return out;
      out.push(plain);
    }
    return out;
  }

  /** Text up to the next special character; `\x` (x not a newline) is text, backslash kept. */
  private parsePlain(): string | undefined {
    const { text } = this;
    const start = this.pos;
    let i = start;
    while (i < text.length) {
      const ch = text[i];
      if (ch === "\\") {
        if (i + 1 >= text.length || text[i + 1] === "\n") break;
        i += 2;
      } else if (SPECIAL.has(ch)) break;
      else i++;
    }
    if (i === start) return undefined;
    this.pos = i;
    return text.slice(start, i);
  }

  /** `(p)` or `(p:p)`, kept as text around what is inside. */
  private parseRound(): PromptNode[] | undefined {
    this.pos++;
    const out: PromptNode[] = ["("];
    append(out, this.parsePrompt());
    if (this.eat(")")) {
      out.push(")");
      return out;
    }
    if (!this.eat(":")) return undefined;
    out.push(":");
    append(out, this.parsePrompt());
    if (!this.eat(")")) return undefined;
    out.push(")");
    return out;
  }

  /** `[p]` (emphasis, kept as text), `[p|p…]`, `[p:when]` or `[p:p:when]`. */
  private parseSquare(): PromptNode[] | undefined {
    this.pos++;
    const first = this.parsePrompt();
    if (this.eat("]")) {
      const out: PromptNode[] = ["["];
      append(out, first);
      out.push("]");
      return out;
    }
    if (this.eat("|")) {
      const options = [first];
      do options.push(this.parsePrompt());
      while (this.eat("|"));
      return this.eat("]") ? [{ kind: "alternate", options }] : undefined;
    }
    if (!this.eat(":")) return undefined;
    const afterColon = this.pos;
    const when = this.parseWhen();
    if (when !== undefined) return [{ kind: "scheduled", before: undefined, after: first, when }];
    this.pos = afterColon;
    const second = this.parsePrompt();
    if (!this.eat(":")) return undefined;
    const when2 = this.parseWhen();
    if (when2 === undefined) return undefined;
    return [{ kind: "scheduled", before: first, after: second, when: when2 }];
  }

  /** `[WHITESPACE] NUMBER [WHITESPACE] "]"`; the number's spelling. */
  private parseWhen(): string | undefined {
    this.skip(WHITESPACE);
    NUMBER.lastIndex = this.pos;
    const number = NUMBER.exec(this.text);
    if (number === null) return undefined;
    this.pos = NUMBER.lastIndex;
    this.skip(WHITESPACE);
    return this.eat("]") ? number[0] : undefined;
  }

  private skip(pattern: RegExp): void {
    pattern.lastIndex = this.pos;
    if (pattern.exec(this.text) !== null) this.pos = pattern.lastIndex;
  }

  private eat(ch: string): boolean {
    if (this.text[this.pos] !== ch) return false;
    this.pos++;
    return true;
  }
}
