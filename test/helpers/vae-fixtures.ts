/**
 * Shared setup of the VAE, TAESD and tiled-VAE graph tests: the fixture manifest's `vae` section,
 * the tiny models' configs, and a decoder + encoder session pair built from a weights file.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { GraphBuilder } from "../../src/graph/graph-builder.js";
import { serializeModel } from "../../src/graph/onnx-model.js";
import { onnxruntimeNode } from "../../src/runtime/onnxruntime-node.js";
import type { Session, TensorData } from "../../src/runtime/runtime.js";
import { parseTaesdConfig, parseVaeConfig } from "../../src/weights/architecture/diffusers-config.js";
import { SafetensorsWeightSource } from "../../src/weights/safetensors-weight-source.js";
import type { WeightSource } from "../../src/weights/weight-source.js";
import { assertClose, type Difference } from "./assert-close.js";
import { fixturePath, golden, manifest } from "./fixtures.js";

/** One `vae.cases[]` entry: golden tensor names (in goldens/vae) of the VAE and TAESD runs. */
export interface VaeCase {
  id: string;
  kind: "decode" | "encode";
  latents: string;
  image: string;
  vae_decode: string;
  mean: string;
  logvar: string;
  std: string;
  sample_times_scaling: string;
  sample_seed: number;
  taesd_decode: string;
  taesd_encode: string;
}

const vae = manifest().vae;
export const vaeCases: VaeCase[] = vae.cases;
export const vaeTolerance: number = vae.tolerance.max_abs;
/** The tiny AutoencoderKL folder and its config. */
export const vaeModelDir = fixturePath(vae.model);
export const vaeConfig = parseVaeConfig(JSON.parse(readFileSync(`${vaeModelDir}/config.json`, "utf-8")));
/** The tiny AutoencoderTiny (TAESD) folder and its config. */
export const taesdModelDir = fixturePath(vae.taesd_model);
export const taesdConfig = parseTaesdConfig(
  JSON.parse(readFileSync(`${taesdModelDir}/config.json`, "utf-8")),
);

export function vaeCase(id: string): VaeCase {
  const c = vaeCases.find((x) => x.id === id);
  if (!c) throw new Error(`no vae case "${id}" in the fixture manifest`);
  return c;
}

/** The shape of a tensor in goldens/vae. */
export function goldenDims(key: string): number[] {
  return [...golden("vae").info(key).shape];
}

/** A tensor of goldens/vae as a graph's feed. */
export function goldenFeed(key: string): TensorData {
  return { dims: goldenDims(key), data: golden("vae").readF32(key) };
}

/** A graph's output against the goldens/vae tensor `key`: the same shape, values within vaeTolerance. */
export function assertVaeGolden(output: TensorData, key: string, label: string): Difference {
  assert.deepEqual(output.dims, goldenDims(key), `${label} shape`);
  return assertClose(output.data as Float32Array, golden("vae").readF32(key), vaeTolerance, label);
}

export interface CodecSessions {
  decoder: Session;
  encoder: Session;
}

/** Builds both graphs from `<modelDir>/diffusion_pytorch_model.safetensors` into one-thread sessions. */
export async function codecSessions(
  modelDir: string,
  build: { decoder(weights: WeightSource): GraphBuilder; encoder(weights: WeightSource): GraphBuilder },
): Promise<CodecSessions> {
  const weights = SafetensorsWeightSource.open(`${modelDir}/diffusion_pytorch_model.safetensors`);
  try {
    const runtime = onnxruntimeNode();
    const session = (graph: GraphBuilder) =>
      runtime.createSession(serializeModel(graph), { intraOpNumThreads: 1 });
    const decoder = await session(build.decoder(weights));
    const encoder = await session(build.encoder(weights));
    return { decoder, encoder };
  } finally {
    weights.close();
  }
}
