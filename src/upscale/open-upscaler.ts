/**
 * An upscaler by what users type: one of A1111's resampler names (None, Lanczos, Nearest), or the
 * path of an ESRGAN-family weights file (.pth, .safetensors).
 */
import { existsSync } from "node:fs";
import { GraphCache } from "../cache/graph-cache.js";
import { onnxruntimeNode } from "../runtime/onnxruntime-node.js";
import type { Runtime } from "../runtime/runtime.js";
import { CLASSIC_UPSCALER_NAMES, classicUpscaler } from "./classic-upscalers.js";
import { ModelUpscaler } from "./model-upscaler.js";
import type { Upscaler } from "./upscaler.js";

export interface OpenUpscalerOptions {
  runtime?: Runtime;
  /** Threads per operator; default: physical cores. */
  threads?: number;
  executionProviders?: string[];
  /** Built-graph cache; default the sdlite cache folder; false builds in memory. */
  cache?: GraphCache | false;
  /** Tile size in input pixels (0: no tiling) and context pixels per tile side. */
  tile?: number;
  tilePad?: number;
  /** Name for a model file (default: its file name without extension). */
  name?: string;
}

export class UnknownUpscalerError extends Error {
  constructor(readonly spec: string) {
    super(`upscaler "${spec}" is neither a weights file nor one of ${CLASSIC_UPSCALER_NAMES.join(", ")}`);
    this.name = "UnknownUpscalerError";
  }
}

export function openUpscaler(spec: string, options: OpenUpscalerOptions = {}): Upscaler {
  const classic = classicUpscaler(spec);
  if (classic) return classic;
  if (!existsSync(spec)) throw new UnknownUpscalerError(spec);
  return ModelUpscaler.open(spec, {
    runtime: options.runtime ?? onnxruntimeNode(),
    session: { intraOpNumThreads: options.threads, executionProviders: options.executionProviders },
    cache: options.cache ?? new GraphCache(),
    tile: options.tile,
    tilePad: options.tilePad,
    name: options.name,
  });
}
