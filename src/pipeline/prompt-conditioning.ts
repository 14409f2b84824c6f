/**
 * A request's prompt and negative prompt → the conditioning of every denoising step, as
 * AUTOMATIC1111 builds it: the prompt split at AND into weighted sub-prompts, each sub-prompt and the
 * negative prompt turned into a schedule of texts (prompt editing, alternation), every distinct text
 * encoded once. A prompt without such syntax gives one conditioning for all steps, exactly the
 * embeddings of the prompt and negative prompt.
 *
 * Lengths follow A1111 (prompt_parser.py, sd_samplers_cfg_denoiser.py): the texts of one schedule
 * are encoded as one batch, so shorter ones get the empty prompt's windows; sub-prompts of an AND
 * are stacked by repeating each one's last vector (`stack_conds`); prompt and negative prompt keep
 * their own lengths (the UNet then runs them separately) unless `padCondUncond` (A1111's
 * `pad_cond_uncond`) extends the shorter one with empty-prompt windows.
 */
import { resolveSampler } from "../schedulers/registry.js";
import type { EmbeddingLookup, SpanTokenizer, TokenEmbedding } from "../tokenizer/prompt-chunks.js";
import type { Conditioning, ConditioningSchedule } from "./denoise.js";
import { InvalidRequestError } from "./invalid-request.js";
import type { TextEncoderNetwork } from "./networks.js";
import {
  encodePrompt,
  extendWithLastVector,
  type PromptEmbedding,
  padTo,
  repeatBatch,
} from "./prompt-encoder.js";
import {
  promptSchedule,
  type ScheduledPrompt,
  scheduleIndexAt,
  splitComposablePrompt,
} from "./prompt-schedule.js";

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
  /**
   * A1111's "Pad prompt/negative prompt" (`pad_cond_uncond`, off by default): when prompt and
   * negative prompt differ in length, the shorter is extended with the empty prompt's windows so
   * both run in one UNet batch. Off: each runs at its own length.
   */
  padCondUncond?: boolean;
  /** Textual-inversion embeddings that prompt words can name. */
  embeddings?: EmbeddingLookup;
}

export interface EncodedConditioning {
  readonly at: ConditioningSchedule;
  /** Prompt and negative prompt were padded to one length (A1111 then writes `Pad conds: True`). */
  readonly padded: boolean;
  /**
   * The embeddings the texts used, as A1111 lists them in `TI hashes`: one entry per embedding and
   * encoder call, the last call's first (sub-prompts from the last, then the negative prompt).
   */
  readonly embeddings: readonly TokenEmbedding[];
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
): Promise<EncodedConditioning> {
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
    if (!encoded.has(text))
      encoded.set(text, await encodePrompt(text, tokenizer, encoder, clipSkip, request.embeddings));
    return encoded.get(text)!;
  };
  const schedules = [...condSchedules, ...(negativeSchedule ? [negativeSchedule] : [])];
  for (const schedule of schedules) for (const entry of schedule) await encode(entry.text);

  const lengthOf = (schedule: readonly ScheduledPrompt[]) =>
    Math.max(...schedule.map((entry) => encoded.get(entry.text)!.tokens));
  const condGroupTokens = condSchedules.map(lengthOf);
  const stackedTokens = Math.max(...condGroupTokens);
  const negativeTokens = negativeSchedule ? lengthOf(negativeSchedule) : stackedTokens;
  const pad = request.padCondUncond === true;
  const condTokens = pad ? Math.max(stackedTokens, negativeTokens) : stackedTokens;
  const uncondTokens = pad ? condTokens : negativeTokens;
  const needsEmpty =
    condTokens !== stackedTokens ||
    uncondTokens !== negativeTokens ||
    schedules.some((s) => s.some((entry) => encoded.get(entry.text)!.tokens !== lengthOf(s)));
  const empty = needsEmpty ? await encode("") : undefined;
  const withEmpty = (e: PromptEmbedding, tokens: number) => (empty ? padTo(e, tokens, empty) : e);

  const prepared = new Map<string, Float32Array>();
  const preparedOnce = (key: string, make: () => PromptEmbedding) => {
    if (!prepared.has(key)) prepared.set(key, repeatBatch(make(), batch));
    return prepared.get(key)!;
  };
  const condData = (k: number, text: string) =>
    preparedOnce(`cond ${k}\n${text}`, () => {
      const own = withEmpty(encoded.get(text)!, condGroupTokens[k]);
      return withEmpty(extendWithLastVector(own, stackedTokens), condTokens);
    });
  const uncondData = (text: string) =>
    preparedOnce(`uncond\n${text}`, () =>
      withEmpty(withEmpty(encoded.get(text)!, negativeTokens), uncondTokens),
    );

  // A1111 encodes the negative prompt's schedule first, then each sub-prompt's; each call puts its
  // embeddings before those of the calls made earlier
  const usedBy = (schedule: readonly ScheduledPrompt[]) => [
    ...new Set(schedule.flatMap((entry) => encoded.get(entry.text)!.embeddings ?? [])),
  ];
  const embeddings = [...(negativeSchedule ? [negativeSchedule] : []), ...condSchedules]
    .reverse()
    .flatMap(usedBy);

  const textAt = (schedule: readonly ScheduledPrompt[], step: number) =>
    schedule[scheduleIndexAt(schedule, step)].text;
  const byTexts = new Map<string, Conditioning>();
  const at: ConditioningSchedule = (step) => {
    const condTexts = condSchedules.map((schedule) => textAt(schedule, step));
    const negativeText = negativeSchedule ? textAt(negativeSchedule, step) : undefined;
    const key = JSON.stringify([condTexts, negativeText]);
    let conditioning = byTexts.get(key);
    if (conditioning === undefined) {
      const conds = condTexts.map((text, k) => ({ data: condData(k, text), weight: subprompts[k].weight }));
      // without guidance the negative prompt is never looked at
      conditioning =
        negativeText === undefined
          ? { conds, uncond: conds[0].data, tokens: condTokens, uncondTokens: condTokens }
          : { conds, uncond: uncondData(negativeText), tokens: condTokens, uncondTokens };
      byTexts.set(key, conditioning);
    }
    return conditioning;
  };
  return { at, padded: pad && stackedTokens !== negativeTokens, embeddings };
}
