/** `--lora FILE[:WEIGHT]`: a LoRA file and its weight (default 1.0), as A1111's `<lora:name:weight>`. */
import type { LoraRequest } from "../engine/open-pipeline.js";

export const DEFAULT_LORA_WEIGHT = 1;

/**
 * The weight is whatever follows the last ':' when that is a number, so paths that contain ':'
 * (`C:\loras\x.safetensors`, `a:b.safetensors`) still work without a weight.
 */
export function parseLoraArg(arg: string): LoraRequest {
  const colon = arg.lastIndexOf(":");
  const tail = colon >= 0 ? arg.slice(colon + 1).trim() : "";
  if (colon > 0 && /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(tail)) {
    return { path: arg.slice(0, colon), weight: Number(tail) };
  }
  if (arg.trim() === "") throw new Error("--lora needs a file name (FILE or FILE:WEIGHT)");
  return { path: arg, weight: DEFAULT_LORA_WEIGHT };
}
