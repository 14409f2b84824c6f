/**
 * A request's prompt and negative prompt → the conditioning of every denoising step, as
 * AUTOMATIC1111 builds it: the prompt split at AND into weighted sub-prompts, each sub-prompt and the
 * negative prompt turned into a schedule of texts (prompt editing, alternation), every distinct text
 * encoded once. A prompt without such syntax gives one conditioning for all steps, exactly the
 * embeddings of the prompt and negative prompt.
 */
import { resolveSampler } from "../schedulers/registry.js";
import type { SpanTokenizer } from "../tokenizer/prompt-chunks.js";
import type { Conditioning, ConditioningSchedule } from "./denoise.js";
import type { TextEncoderNetwork } from "./networks.js";
import { encodePrompt, type PromptEmbedding, padTo, repeatBatch } from "./prompt-encoder.js";
import {
  promptSchedule,
  type ScheduledPrompt,
  scheduleIndexAt,
  splitComposablePrompt,
} from "./prompt-schedule.js";
import { InvalidRequestError } from "./request.js";

export interface PromptConditioningRequest {
  prompt: string;
  negativePrompt: string;
  /** The step count schedules are laid over (see `scheduleSteps`). */
  steps: number;
  /** Images per UNet call: every embedding is repeated this many times. */
  batch: number;
  clipSkip: number;
  /** Classifier-free guidance runs (the negative prompt is needed even without AND). */
  cfg: boolean;
  /** The UNet takes the guidance scale as an input (LCM) and runs no negative prompt at all. */
  embeddedGuidance: boolean;
}

// A1111's samplers with `second_order`: it lays schedules over twice the steps (one count per model call).
const SECOND_ORDER_SAMPLERS = new Set(["Heun"]);

/** A1111's `total_steps`: the sampling steps, doubled for second-order samplers. */
export function scheduleSteps(sampler: string, steps: number): number {
  return SECOND_ORDER_SAMPLERS.has(resolveSampler(sampler).sampler) ? 2 * steps : steps;
}

export async function encodeConditioning(
  request: PromptConditioningRequest,
  tokenizer: SpanTokenizer,
  encoder: TextEncoderNetwork,
): Promise<ConditioningSchedule> {
  const { steps, batch, clipSkip } = request;
  const subprompts = splitComposablePrompt(request.prompt);
  const composable = subprompts.length > 1 || subprompts[0].weight !== 1;
  if (composable && request.embeddedGuidance) {
    throw new InvalidRequestError(
      "AND and prompt weights (composable diffusion) need classifier-free guidance, which this LCM model " +
        "(guidance scale built into its UNet) does not run; use one prompt without a trailing :weight",
    );
  }
  const condSchedules = subprompts.map((s) => promptSchedule(s.text, steps));
  const negativeSchedule =
    request.cfg || composable ? promptSchedule(request.negativePrompt, steps) : undefined;

  const encoded = new Map<string, PromptEmbedding>();
  const encode = async (text: string) => {
    if (!encoded.has(text)) encoded.set(text, await encodePrompt(text, tokenizer, encoder, clipSkip));
    return encoded.get(text)!;
  };
  for (const schedule of [...condSchedules, ...(negativeSchedule ? [negativeSchedule] : [])]) {
    for (const entry of schedule) await encode(entry.text);
  }

  // One UNet batch needs one length: like cond and uncond, all are padded with empty-prompt windows.
  const tokens = Math.max(...[...encoded.values()].map((e) => e.tokens));
  const empty = [...encoded.values()].some((e) => e.tokens !== tokens) ? await encode("") : undefined;
  const repeated = new Map<string, Float32Array>();
  const batched = (text: string) => {
    if (!repeated.has(text)) {
      const e = encoded.get(text)!;
      repeated.set(text, repeatBatch(empty ? padTo(e, tokens, empty) : e, batch));
    }
    return repeated.get(text)!;
  };

  const textAt = (schedule: readonly ScheduledPrompt[], step: number) =>
    schedule[scheduleIndexAt(schedule, step)].text;
  const byTexts = new Map<string, Conditioning>();
  return (step) => {
    const condTexts = condSchedules.map((schedule) => textAt(schedule, step));
    const negativeText = negativeSchedule ? textAt(negativeSchedule, step) : undefined;
    const key = JSON.stringify([condTexts, negativeText]);
    let conditioning = byTexts.get(key);
    if (conditioning === undefined) {
      const conds = condTexts.map((text, k) => ({ data: batched(text), weight: subprompts[k].weight }));
      // without guidance the negative prompt is never looked at
      const uncond = negativeText === undefined ? conds[0].data : batched(negativeText);
      conditioning = { conds, uncond, tokens };
      byTexts.set(key, conditioning);
    }
    return conditioning;
  };
}
