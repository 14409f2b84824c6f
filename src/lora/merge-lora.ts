/**
 * A WeightSource that fuses several LoRAs, each with its own weight, into a model's weights as
 * they are read: the graph builder sees ordinary canonical weights. Deltas are computed in get()
 * for that one tensor, so neither merged copies nor full-size deltas are ever held. Plain LoRA
 * pairs are summed row by row from their factors; LyCORIS modules and DoRA (lora/module-delta.ts)
 * add a dense delta of that one tensor. Each DoRA module sees the original weight, as in A1111.
 */
import type { WeightSource } from "../weights/weight-source.js";
import { applyLoraDeltas, type LoraContribution } from "./lora-delta.js";
import type { LoraComponent, LoraFile, LoraModule } from "./lora-module.js";
import type { LoraTargetModel } from "./lora-targets.js";
import { moduleContribution } from "./module-delta.js";

export interface WeightedLora {
  readonly lora: Pick<LoraFile, "modules">;
  /** The A1111 `<lora:name:weight>` multiplier (diffusers' lora_scale). */
  readonly weight: number;
}

/** A plain up @ down pair: summed from its factors, never made dense. */
function isLowRank(m: LoraModule): m is Extract<LoraModule, { type: "lora" }> {
  return m.type === "lora" && !m.mid && !m.doraScale;
}

export class LoraMergedWeightSource implements WeightSource {
  private readonly contributions = new Map<string, LoraContribution[]>();
  private readonly denseModules = new Map<string, { module: LoraModule; weight: number }[]>();
  private readonly biasDiffs = new Map<string, { data: Float32Array; weight: number }[]>();

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
        if (isLowRank(m)) {
          const list = this.contributions.get(m.target) ?? [];
          list.push({ up: m.up.data, down: m.down.data, rank: m.rank, factor: weight * m.scale });
          this.contributions.set(m.target, list);
        } else {
          const list = this.denseModules.get(m.target) ?? [];
          list.push({ module: m, weight });
          this.denseModules.set(m.target, list);
        }
        if (m.biasDiff) {
          if (!base.has(m.biasDiff.target)) {
            throw new Error(
              `LoRA module "${m.sourceName}" changes "${m.biasDiff.target}", which the ${component} lacks`,
            );
          }
          const list = this.biasDiffs.get(m.biasDiff.target) ?? [];
          list.push({ data: m.biasDiff.data, weight });
          this.biasDiffs.set(m.biasDiff.target, list);
        }
      }
    }
  }

  /** Canonical names of the weights at least one LoRA changes. */
  changedNames(): string[] {
    return [
      ...new Set([...this.contributions.keys(), ...this.denseModules.keys(), ...this.biasDiffs.keys()]),
    ];
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
    const contributions = this.contributions.get(name) ?? [];
    const dense = this.denseModules.get(name) ?? [];
    const bias = this.biasDiffs.get(name) ?? [];
    const weights = this.base.get(name);
    if (contributions.length === 0 && dense.length === 0 && bias.length === 0) return weights;
    const shape = this.base.shape(name);
    const deltas = dense.map(({ module, weight }) => moduleContribution(module, weights, shape, weight));
    for (const b of bias) deltas.push(Float64Array.from(b.data, (v) => v * b.weight));
    return applyLoraDeltas(weights, shape[0] ?? 1, contributions, deltas);
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
