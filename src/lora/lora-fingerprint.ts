/**
 * A stable string naming a list of LoRAs and their weights, for graph cache keys: a graph built
 * with merged weights may be reused only for the same file contents at the same weights.
 */
import type { LoraFile } from "./lora-module.js";

export interface FingerprintedLora {
  readonly lora: Pick<LoraFile, "sha256">;
  readonly weight: number;
}

/**
 * "" for no LoRA. Weight-0 entries are left out because they change nothing (the merge skips
 * them too); order is kept because float sums in another order may differ in the last bit.
 */
export function loraFingerprint(loras: readonly FingerprintedLora[]): string {
  return loras
    .filter((l) => l.weight !== 0)
    .map((l) => `${l.lora.sha256}@${l.weight}`)
    .join(";");
}
