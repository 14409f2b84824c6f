/**
 * The weights a LoRA may change, looked up the ways LoRA files name them. kohya names are module
 * paths with "." replaced by "_" ("lora_unet_down_blocks_0_attentions_0_proj_in"), which cannot be
 * split back into a path; so the "_"-joined lookup is built from the model's own weight names, and
 * a name that two modules would share is reported as ambiguous instead of guessed.
 */
import type { UNetConfig } from "../weights/architecture/model-config.js";
import { unetTensorMap } from "../weights/key-maps/unet-key-map.js";
import type { WeightSource } from "../weights/weight-source.js";
import type { LoraComponent } from "./lora-module.js";

export interface LoraTargetModel {
  readonly unet: WeightSource;
  readonly textEncoder: WeightSource;
  /**
   * The UNet's architecture: enables kohya names in the original LDM layout
   * ("lora_unet_input_blocks_1_1_proj_in"), mapped through the LDM key map.
   */
  readonly unetConfig?: UNetConfig;
}

export interface LoraTarget {
  readonly component: LoraComponent;
  /** Canonical weight name ("….proj_in.weight"). */
  readonly weight: string;
  readonly shape: readonly number[];
}

export type KohyaLookup = { target: LoraTarget } | { error: string };

/** kohya module-name prefixes of SD1.x files. */
export const KOHYA_PREFIXES: Readonly<Record<LoraComponent, string>> = {
  unet: "lora_unet_",
  text_encoder: "lora_te_",
};

const WEIGHT_SUFFIX = ".weight";

export class LoraTargets {
  private readonly kohyaNames = new Map<string, LoraTarget | string[]>();

  constructor(private readonly model: LoraTargetModel) {
    for (const component of ["unet", "text_encoder"] as const) {
      for (const weight of this.source(component).names()) {
        if (!weight.endsWith(WEIGHT_SUFFIX)) continue;
        this.addKohyaName(component, weight.slice(0, -WEIGHT_SUFFIX.length), weight);
      }
    }
    if (model.unetConfig) {
      for (const m of unetTensorMap(model.unetConfig)) {
        // transformer internals are named alike in both layouts: those are already in the map
        if (!m.canonical.endsWith(WEIGHT_SUFFIX) || !model.unet.has(m.canonical)) continue;
        this.addKohyaName("unet", m.ldm.slice(0, -WEIGHT_SUFFIX.length), m.canonical);
      }
    }
  }

  /** Resolves a kohya module name (prefix included, no ".lora_down.weight"). */
  kohya(name: string): KohyaLookup {
    const hit = this.kohyaNames.get(name);
    if (hit === undefined) return { error: "no module of the model has this kohya name" };
    if (Array.isArray(hit)) return { error: `ambiguous kohya name: it fits ${hit.join(" and ")}` };
    return { target: hit };
  }

  /** Resolves a module path of the diffusers/transformers model ("mid_block.attentions.0.proj_in"). */
  module(component: LoraComponent, path: string): LoraTarget | undefined {
    const weight = path + WEIGHT_SUFFIX;
    const source = this.source(component);
    return source.has(weight) ? { component, weight, shape: source.shape(weight) } : undefined;
  }

  private source(component: LoraComponent): WeightSource {
    return component === "unet" ? this.model.unet : this.model.textEncoder;
  }

  private addKohyaName(component: LoraComponent, modulePath: string, weight: string): void {
    const name = KOHYA_PREFIXES[component] + modulePath.replaceAll(".", "_");
    const existing = this.kohyaNames.get(name);
    if (existing === undefined) {
      this.kohyaNames.set(name, { component, weight, shape: this.source(component).shape(weight) });
    } else if (Array.isArray(existing)) {
      if (!existing.includes(weight)) existing.push(weight);
    } else if (existing.weight !== weight) {
      this.kohyaNames.set(name, [existing.weight, weight]);
    }
  }
}
