/**
 * A WeightSource that fuses several LoRAs, each with its own weight, into a model's weights as
 * they are read: the graph builder sees ordinary canonical weights. Deltas are computed in get()
 * for that one tensor, so neither merged copies nor full-size deltas are ever held.
 */
import type { WeightSource } from "../weights/weight-source.js";
import { applyLoraDeltas, type LoraContribution } from "./lora-delta.js";
import type { LoraComponent, LoraFile } from "./lora-module.js";
import type { LoraTargetModel } from "./lora-targets.js";

export interface WeightedLora {
  readonly lora: Pick<LoraFile, "modules">;
  /** The A1111 `<lora:name:weight>` multiplier (diffusers' lora_scale). */
  readonly weight: number;
}

export class LoraMergedWeightSource implements WeightSource {
  private readonly contributions = new Map<string, LoraContribution[]>();

  constructor(
    private readonly base: WeightSource,
    component: LoraComponent,
    loras: readonly WeightedLora[],
  ) {
    for (const { lora, weight } of loras) {
      if (!Number.isFinite(weight)) throw new Error(`LoRA weight must be a finite number, got ${weight}`);
      // weight 0 must leave W bit-identical (W + 0 would turn -0 into +0)
      if (weight === 0) continue;
      for (const m of lora.modules) {
        if (m.component !== component) continue;
        if (!base.has(m.target)) {
          throw new Error(
            `LoRA module "${m.sourceName}" targets "${m.target}", which the ${component} lacks`,
          );
        }
        const list = this.contributions.get(m.target) ?? [];
        list.push({ up: m.up.data, down: m.down.data, rank: m.rank, factor: weight * m.scale });
        this.contributions.set(m.target, list);
      }
    }
  }

  /** Canonical names of the weights at least one LoRA changes. */
  changedNames(): string[] {
    return [...this.contributions.keys()];
  }

  names(): string[] {
    return this.base.names();
  }

  has(name: string): boolean {
    return this.base.has(name);
  }

  shape(name: string): readonly number[] {
    return this.base.shape(name);
  }

  get(name: string): Float32Array {
    const contributions = this.contributions.get(name);
    const weights = this.base.get(name);
    if (contributions === undefined) return weights;
    return applyLoraDeltas(weights, this.base.shape(name)[0], contributions);
  }
}

/** Both networks of a model with the same LoRA list fused in. */
export function mergeLoras(
  model: Pick<LoraTargetModel, "unet" | "textEncoder">,
  loras: readonly WeightedLora[],
): { unet: LoraMergedWeightSource; textEncoder: LoraMergedWeightSource } {
  return {
    unet: new LoraMergedWeightSource(model.unet, "unet", loras),
    textEncoder: new LoraMergedWeightSource(model.textEncoder, "text_encoder", loras),
  };
}
