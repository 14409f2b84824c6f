/** `--lora FILE[:WEIGHT]`: a LoRA file and its weight (default 1.0), as A1111's `<lora:name:weight>`. */
import type { LoraRequest } from "../engine/open-pipeline.js";

export const DEFAULT_LORA_WEIGHT = 1;

const NUMBER = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
/** A name ending like a LoRA file: what follows its last ':' can only be meant as the weight. */
const LORA_FILE = /\.(?:safetensors|pt|pth|ckpt|bin)$/i;

/**
 * The weight is whatever follows the last ':' when that is a number, so paths that contain ':'
 * (`C:\loras\x.safetensors`, `a:b.safetensors`) still work without a weight. After a name ending
 * in a LoRA file extension anything else is a bad weight (`x.safetensors:abc`, `:NaN`), said so
 * rather than looked for as a file of that name.
 */
export function parseLoraArg(arg: string): LoraRequest {
  if (arg.trim() === "") throw new Error("--lora needs a file name (FILE or FILE:WEIGHT)");
  const colon = arg.lastIndexOf(":");
  const head = colon > 0 ? arg.slice(0, colon) : "";
  const tail = colon > 0 ? arg.slice(colon + 1).trim() : "";
  if (colon > 0 && NUMBER.test(tail)) {
    const weight = Number(tail);
    if (!Number.isFinite(weight)) {
      throw new Error(`--lora ${arg}: the weight ${tail} is not a finite number`);
    }
    return { path: head, weight };
  }
  if (colon > 0 && LORA_FILE.test(head.trim())) {
    throw new Error(`--lora ${arg}: the weight ${JSON.stringify(tail)} is not a number (write FILE:0.8)`);
  }
  return { path: arg, weight: DEFAULT_LORA_WEIGHT };
}
