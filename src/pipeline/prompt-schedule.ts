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
import { PY_SPACE, PY_WORD, parseWeight } from "../tokenizer/prompt-weights.js";
import { InvalidRequestError } from "./request.js";

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
  visit(nodes, (node) => {
    if (node.kind === "alternate") {
      for (let s = 1; s <= total; s++) boundaries.add(s);
    } else {
      const when = toStep(node.when);
      if (when >= 1) boundaries.add(when);
    }
  });
  return [...boundaries]
    .sort((a, b) => a - b)
    .map((step) => ({ endAtStep: step, text: textAt(nodes, step, toStep) }));
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
// A1111's re_weight: a trailing ":1.5" is the sub-prompt's weight; trailing whitespace is dropped.
const SUBPROMPT_WEIGHT = new RegExp(
  `^((?:${PY_SPACE}|.)*?)(?:${PY_SPACE}*:${PY_SPACE}*([-+]?(?:\\p{Nd}+\\.?|\\p{Nd}*\\.\\p{Nd}+)))?${PY_SPACE}*$`,
  "u",
);

/** Splits `a cat :1.2 AND a dog` into weighted sub-prompts, as A1111's `get_multicond_prompt_list`. */
export function splitComposablePrompt(prompt: string): WeightedSubprompt[] {
  return prompt.split(AND_SEPARATOR).map((part) => {
    const match = SUBPROMPT_WEIGHT.exec(part);
    if (match === null) return { text: part, weight: 1 };
    return { text: match[1], weight: match[2] === undefined ? 1 : parseWeight(match[2]) };
  });
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

/**
 * Recursive descent over A1111's grammar. Inside brackets everything must be well formed; at the
 * top level a bracket group that is not is text, its brackets included.
 */
class ScheduleParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  /** The whole prompt, or undefined where A1111's grammar rejects it. */
  parseStart(): PromptNode[] | undefined {
    const out: PromptNode[] = [];
    const { text } = this;
    while (this.pos < text.length) {
      const ch = text[this.pos];
      if (ch === "[" || ch === "(") {
        const start = this.pos;
        const group = ch === "[" ? this.parseSquare() : this.parseRound();
        if (group !== undefined) {
          out.push(...group);
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
      const part = ch === "[" ? this.parseSquare() : ch === "(" ? this.parseRound() : undefined;
      if (part !== undefined) {
        out.push(...part);
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
    const first = this.parsePrompt();
    if (this.eat(")")) return ["(", ...first, ")"];
    if (!this.eat(":")) return undefined;
    const second = this.parsePrompt();
    if (!this.eat(")")) return undefined;
    return ["(", ...first, ":", ...second, ")"];
  }

  /** `[p]` (emphasis, kept as text), `[p|p…]`, `[p:when]` or `[p:p:when]`. */
  private parseSquare(): PromptNode[] | undefined {
    this.pos++;
    const first = this.parsePrompt();
    if (this.eat("]")) return ["[", ...first, "]"];
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
