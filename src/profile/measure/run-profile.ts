/**
 * A whole profile: the architecture (a model's, or SD1.5's with synthetic weights), the networks
 * one image runs under the given options, their counts, this machine's peak, their measured times
 * and the report. Progress goes through a callback; nothing is printed.
 */

import { resolveWeightStorage, type WeightStorageChoice } from "../../engine/weight-storage-choice.js";
import type { WeightStorage } from "../../graph/weight-storage.js";
import { onnxruntimeNode, physicalCoreCount } from "../../runtime/onnxruntime-node.js";
import type { Runtime } from "../../runtime/runtime.js";
import {
  SD15_TAESD,
  SD15_TEXT_ENCODER,
  SD15_UNET,
  SD15_VAE,
} from "../../weights/architecture/model-config.js";
import { textEncoderTensorMap, unetTensorMap, vaeTensorMap } from "../../weights/key-maps/ldm-key-map.js";
import { taesdTensorNames } from "../../weights/key-maps/taesd-key-map.js";
import { loadModel } from "../../weights/load-model.js";
import type { WeightsComponent } from "../../weights/loaded-model.js";
import { openTaesd } from "../../weights/standalone-vae.js";
import { syntheticWeightSource } from "../../weights/synthetic-weight-source.js";
import { countGraph, type NetworkCount } from "../count-graph.js";
import type { HardwareSpec } from "../hardware.js";
import {
  type ProfileArchitecture,
  type ProfileComponent,
  type ProfileSettings,
  planNetworks,
} from "../profile-plan.js";
import { buildProfileReport, type ProfileReport } from "../profile-report.js";
import { type MachinePeak, measureMachinePeak } from "./machine-peak.js";
import { type NetworkTiming, timeNetworks } from "./time-networks.js";

export interface RunProfileOptions {
  /** A model on disk (checkpoint or diffusers folder); none: SD1.5's architecture, synthetic weights. */
  readonly model?: string;
  /** The model's display name in the report. */
  readonly modelName?: string;
  /** TAESD weights; none: TAESD's architecture with synthetic weights (its times do not depend on them). */
  readonly taesd?: string;
  readonly settings: ProfileSettings;
  readonly weightStorage?: WeightStorageChoice;
  readonly optionsLabel?: string;
  readonly executionProviders?: readonly string[];
  readonly threads?: number;
  /** Timed calls per network (after a warm-up); 0 counts only, measuring nothing. */
  readonly runs: number;
  readonly hardware: readonly HardwareSpec[];
  readonly runtime?: Runtime;
  readonly onProgress?: (message: string) => void;
}

/** Synthetic weights stand for an F16 checkpoint, as the random benchmark models are. */
const SYNTHETIC_DTYPES = ["F16"];

function synthetic<C>(
  config: C,
  mappings: Parameters<typeof syntheticWeightSource>[0],
  choice: WeightStorageChoice,
) {
  return {
    config,
    weights: syntheticWeightSource(mappings),
    weightStorage: resolveWeightStorage(choice, { storedDtypes: SYNTHETIC_DTYPES }),
  };
}

function fromComponent<C>(c: WeightsComponent<C>, choice: WeightStorageChoice): ProfileComponent<C> {
  return {
    config: c.config,
    weights: c.weights,
    weightStorage: resolveWeightStorage(choice, c) as WeightStorage,
  };
}

export async function runProfile(options: RunProfileOptions): Promise<ProfileReport> {
  const choice = options.weightStorage ?? "auto";
  const closers: (() => void)[] = [];
  try {
    const model = options.model === undefined ? undefined : loadModel(options.model);
    if (model) closers.push(() => model.close());
    const taesdFile = options.taesd === undefined ? undefined : openTaesd(options.taesd);
    if (taesdFile) closers.push(() => taesdFile.close());
    const taesd = taesdFile
      ? fromComponent(taesdFile, choice)
      : synthetic(SD15_TAESD, taesdTensorNames(SD15_TAESD), choice);
    if (model?.format === "onnx") {
      throw new Error(
        `${model.path}: an ONNX pipeline folder cannot be profiled (the profile counts the graphs sdlite builds from weights); use the checkpoint or diffusers folder`,
      );
    }
    const arch: ProfileArchitecture = model
      ? {
          unet: fromComponent(model.unet, choice),
          textEncoder: fromComponent(model.textEncoder, choice),
          vae: fromComponent(model.vae, choice),
          taesd,
        }
      : {
          unet: synthetic(SD15_UNET, unetTensorMap(SD15_UNET), choice),
          textEncoder: synthetic(SD15_TEXT_ENCODER, textEncoderTensorMap(SD15_TEXT_ENCODER), choice),
          vae: synthetic(SD15_VAE, vaeTensorMap(SD15_VAE), choice),
          taesd,
        };
    const plans = planNetworks(arch, options.settings);
    const counts = new Map<string, NetworkCount>();
    for (const plan of plans) {
      options.onProgress?.(`${plan.id}: counting`);
      counts.set(plan.id, countGraph(plan.build(), plan.inputs));
    }
    const runtime = options.runtime ?? onnxruntimeNode();
    const threads = options.threads ?? physicalCoreCount();
    const session = { executionProviders: options.executionProviders, intraOpNumThreads: threads };
    let peak: MachinePeak | undefined;
    let timings: Map<string, NetworkTiming> | undefined;
    if (options.runs > 0) {
      options.onProgress?.("measuring this machine's matmul rate and memory bandwidth");
      peak = await measureMachinePeak(runtime, session);
      timings = await timeNetworks(plans, counts, {
        runtime,
        session,
        runs: options.runs,
        onProgress: options.onProgress,
      });
    }
    return buildProfileReport({
      model: options.modelName ?? options.model ?? "SD1.5 architecture, synthetic weights",
      optionsLabel: options.optionsLabel ?? "",
      settings: options.settings,
      plans,
      counts,
      timings,
      peak,
      executionProviders: options.executionProviders ?? ["cpu"],
      threads,
      hardware: options.hardware,
    });
  } finally {
    for (const close of closers.reverse()) close();
  }
}
