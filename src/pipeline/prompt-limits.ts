/**
 * The limits sdlite puts on prompts, checked up front (validateRequest) so a request that would
 * take hours, gigabytes or a crash is refused at once with the reason. A1111 has none of these;
 * each sits far above what a real prompt needs:
 *
 * - 200,000 characters per prompt (a 75-token window is ~300 characters: ~650 windows);
 * - 16 `AND` sub-prompts (each is one more image in every UNet batch);
 * - brackets nested 100 deep (tokenizer/prompt-weights.ts);
 * - 1,000,000 characters of different texts made by prompt editing and alternation over the steps
 *   (prompt-schedule.ts), all sub-prompts and the negative prompt together.
 */
import { MAX_BRACKET_DEPTH, PromptSyntaxError, parsePromptAttention } from "../tokenizer/prompt-weights.js";
import { InvalidRequestError } from "./invalid-request.js";
import { MAX_SCHEDULED_CHARACTERS, promptSchedule, splitComposablePrompt } from "./prompt-schedule.js";

export const MAX_PROMPT_LENGTH = 200_000;
export const MAX_SUBPROMPTS = 16;
export { MAX_BRACKET_DEPTH, MAX_SCHEDULED_CHARACTERS };

/** The emphasis parse of `text`, its syntax errors as InvalidRequestError naming the field. */
function checkEmphasis(text: string, field: string): void {
  try {
    parsePromptAttention(text);
  } catch (err) {
    if (err instanceof PromptSyntaxError) {
      throw new InvalidRequestError(err.message.replace(/^prompt:/, `${field}:`));
    }
    throw err;
  }
}

function relabel<T>(field: string, run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (err instanceof InvalidRequestError && field !== "prompt") {
      throw new InvalidRequestError(err.message.replace(/^prompt:/, `${field}:`));
    }
    throw err;
  }
}

/**
 * Throws InvalidRequestError when a prompt or negative prompt is over a limit or does not parse.
 * `steps` is what schedules are laid over (scheduleSteps: twice the steps for Heun).
 */
export function checkPromptLimits(prompt: string, negativePrompt: string, steps: number): void {
  for (const [field, text] of [
    ["prompt", prompt],
    ["negative prompt", negativePrompt],
  ] as const) {
    if (text.length > MAX_PROMPT_LENGTH) {
      throw new InvalidRequestError(
        `${field}: ${text.length} characters, more than the ${MAX_PROMPT_LENGTH} sdlite accepts`,
      );
    }
  }
  const subprompts = splitComposablePrompt(prompt);
  if (subprompts.length > MAX_SUBPROMPTS) {
    throw new InvalidRequestError(
      `prompt: ${subprompts.length} sub-prompts joined by AND, more than the ${MAX_SUBPROMPTS} sdlite accepts (each one adds an image to every UNet batch)`,
    );
  }
  const texts = new Set<string>();
  let characters = 0;
  const schedules: [string, string][] = [
    ...subprompts.map((s): [string, string] => ["prompt", s.text]),
    ["negative prompt", negativePrompt],
  ];
  for (const [field, text] of schedules) {
    for (const entry of relabel(field, () => promptSchedule(text, steps))) {
      if (texts.has(entry.text)) continue;
      texts.add(entry.text);
      characters += entry.text.length;
      if (characters > MAX_SCHEDULED_CHARACTERS) {
        throw new InvalidRequestError(
          `prompt: editing, alternation and AND over ${steps} steps make more than ${MAX_SCHEDULED_CHARACTERS} characters of different prompts to encode; use fewer steps or a shorter prompt`,
        );
      }
      checkEmphasis(entry.text, field);
    }
  }
}
