/**
 * EngineOptions.weightStorage: how built graphs store the checkpoint weights. "auto" keeps the
 * checkpoint's own precision where that is exact: fp16 for a network whose tensors are all F16 and
 * that no LoRA changes (F16 → float32 → F16 is lossless, so the images are bit-identical to fp32
 * storage), fp32 otherwise. BF16 stays fp32: bfloat16 has float32's range, and its values beyond
 * fp16's (above 65504, or tiny ones below 2^-14) would change; F32 checkpoints and LoRA-merged
 * weights would be rounded. Such rounding is only done when "fp16" is asked for explicitly.
 */
import { WEIGHT_STORAGES, type WeightStorage } from "../graph/weight-storage.js";

export type WeightStorageChoice = "auto" | WeightStorage;
export const WEIGHT_STORAGE_CHOICES: readonly WeightStorageChoice[] = ["auto", ...WEIGHT_STORAGES];

/**
 * "auto" is the default: for an F16 checkpoint it changes no number (bit-identical images) and
 * halves the built graph on disk. It does not change runtime memory or speed on CPU: onnxruntime
 * upcasts the fp16 initializers at session creation (ConstantFolding and
 * FuseFp16InitializerToFp32NodeTransformer both fold the Cast), and the optimised model kept
 * beside the graph is float32 either way (docs/benchmarks.md, "fp16 weight storage").
 */
export const DEFAULT_WEIGHT_STORAGE: WeightStorageChoice = "auto";

export function validateWeightStorage(choice: unknown): WeightStorageChoice {
  if (typeof choice === "string" && (WEIGHT_STORAGE_CHOICES as readonly string[]).includes(choice)) {
    return choice as WeightStorageChoice;
  }
  throw new Error(
    `unknown weight storage ${JSON.stringify(choice)} (expected ${WEIGHT_STORAGE_CHOICES.join(", ")})`,
  );
}

/** The storage for one network, from its stored dtypes and whether a LoRA changes its weights. */
export function resolveWeightStorage(
  choice: WeightStorageChoice,
  network: { readonly storedDtypes: readonly string[]; readonly loraChanged?: boolean },
): WeightStorage {
  if (choice !== "auto") return choice;
  const allF16 = network.storedDtypes.length > 0 && network.storedDtypes.every((d) => d === "F16");
  return allF16 && !network.loraChanged ? "fp16" : "fp32";
}

/** Build and cache-key options for a storage: fp32 stays out, so fp32 graphs keep their cache entries. */
export function storageOption(storage: WeightStorage): { weightStorage?: "fp16" } {
  return storage === "fp16" ? { weightStorage: "fp16" } : {};
}
