/**
 * The diffusers UNet goldens (the manifest's unet.cases, goldens/unet.safetensors) and the fixture
 * UNets they were made with: the cases, their feeds and expected outputs, and sessions of graphs
 * built from a fixture UNet, for the tests that hold a UNet graph to them.
 */
import { readFileSync } from "node:fs";
import type { GraphBuilder } from "../../src/graph/graph-builder.js";
import { serializeModel } from "../../src/graph/onnx-model.js";
import { buildUNetGraph, UNET_INPUTS, type UNetGraphOptions } from "../../src/graph/unet.js";
import { onnxruntimeNode } from "../../src/runtime/onnxruntime-node.js";
import type { Session, TensorData } from "../../src/runtime/runtime.js";
import { parseUNetConfig } from "../../src/weights/architecture/diffusers-config.js";
import type { UNetConfig } from "../../src/weights/architecture/model-config.js";
import { SafetensorsWeightSource } from "../../src/weights/safetensors-weight-source.js";
import { fixturePath, golden, manifest } from "./fixtures.js";

/** One golden case: names of its tensors in goldens/unet.safetensors, the sample's shape. */
export interface UNetCase {
  id: string;
  /** The fixture UNet's folder below the fixtures folder. */
  model: string;
  sample: string;
  timestep: string;
  encoder_hidden_states: string;
  out: string;
  shape: number[];
}

/** The tiny SD1.5's UNet folder, which most cases use. */
export const TINY_UNET = "models/tiny-sd15/unet";

/** Every golden case, or those of one fixture UNet. */
export function unetCases(model?: string): UNetCase[] {
  const cases: UNetCase[] = manifest().unet.cases;
  return model === undefined ? cases : cases.filter((c) => c.model === model);
}

/** The manifest's max |diff| bound for a float32 UNet against the goldens. */
export function unetGoldenTolerance(): number {
  return manifest().unet.tolerance.max_abs;
}

/** A case's inputs as the UNet graph's feeds: sample, one timestep per batch item, text context. */
export function unetCaseFeeds(c: UNetCase): Record<string, TensorData> {
  const g = golden("unet");
  const [batch] = c.shape;
  const context = g.readF32(c.encoder_hidden_states);
  return {
    [UNET_INPUTS.sample]: { dims: c.shape, data: g.readF32(c.sample) },
    [UNET_INPUTS.timestep]: { dims: [batch], data: g.readF32(c.timestep) },
    [UNET_INPUTS.encoderHiddenStates]: { dims: [batch, 77, context.length / batch / 77], data: context },
  };
}

/** The diffusers UNet's output for a case. */
export function unetCaseOut(c: UNetCase): Float32Array {
  return golden("unet").readF32(c.out);
}

/** A fixture UNet's config.json. */
export function unetFixtureConfig(model: string): UNetConfig {
  return parseUNetConfig(JSON.parse(readFileSync(`${fixturePath(model)}/config.json`, "utf-8")));
}

/** A fixture UNet's weights, opened: the caller closes them. */
export function openUNetFixtureWeights(model: string): SafetensorsWeightSource {
  return SafetensorsWeightSource.open(`${fixturePath(model)}/diffusion_pytorch_model.safetensors`);
}

/** `use` of a fixture UNet's weights and config, the weights closed after. */
export function withUNetFixture<T>(
  model: string,
  use: (weights: SafetensorsWeightSource, config: UNetConfig) => T,
): T {
  const weights = openUNetFixtureWeights(model);
  try {
    return use(weights, unetFixtureConfig(model));
  } finally {
    weights.close();
  }
}

/** A CPU session (one thread) of a graph built from a fixture UNet's weights. */
export function unetFixtureSession(
  model: string,
  build: (weights: SafetensorsWeightSource, config: UNetConfig) => GraphBuilder,
): Promise<Session> {
  const bytes = withUNetFixture(model, (weights, config) => serializeModel(build(weights, config)));
  return onnxruntimeNode().createSession(bytes, { intraOpNumThreads: 1 });
}

/** A CPU session (one thread) of a fixture UNet's graph built with `options`. */
export function unetGraphSession(model: string, options: UNetGraphOptions): Promise<Session> {
  return unetFixtureSession(model, (weights, config) => buildUNetGraph(weights, config, options));
}
