/**
 * The graphs and inputs that test the com.microsoft fused ops one at a time on a WebGPU adapter
 * against the plain graph on the CPU (test/webgpu-fused-ops.test.ts on SwiftShader,
 * test/webgpu-fp16-lavapipe.test.ts in fp16 on lavapipe), and the one-output run on either provider.
 */
import { GraphBuilder } from "../../src/graph/graph-builder.js";
import { type FusedOp, linearPlusResidual } from "../../src/graph/layers.js";
import { serializeModel } from "../../src/graph/onnx-model.js";
import { UNET_INPUTS } from "../../src/graph/unet.js";
import type { Runtime, TensorData } from "../../src/runtime/runtime.js";
import { lcg31Values, memoryWeights } from "./test-values.js";

/** `graph`'s `output`, run once in a session of its own on `provider` (one CPU thread). */
export async function runGraphOn(
  runtime: Runtime,
  provider: "cpu" | "webgpu",
  graph: GraphBuilder,
  feeds: Record<string, TensorData>,
  output: string,
): Promise<Float32Array> {
  const session = await runtime.createSession(serializeModel(graph), {
    executionProviders: [provider],
    intraOpNumThreads: 1,
  });
  try {
    return (await session.run(feeds, [output]))[output].data as Float32Array;
  } finally {
    await session.release();
  }
}

/** The tiny UNet's inputs: a fixed 8x8 latent at timestep 500 and a fixed text context. */
export function fusedOpUNetFeeds(): Record<string, TensorData> {
  return {
    [UNET_INPUTS.sample]: { dims: [1, 4, 8, 8], data: lcg31Values(4 * 8 * 8, 1) },
    [UNET_INPUTS.timestep]: { dims: [1], data: Float32Array.of(500) },
    [UNET_INPUTS.encoderHiddenStates]: { dims: [1, 77, 32], data: lcg31Values(77 * 32, 2) },
  };
}

/**
 * One 320-wide linear plus residual, output "y" (the tiny UNet is 32 and 64 channels wide, which
 * BiasAdd's kernel refuses), with `fusedOps` turned on.
 */
export function biasAddGraph(fusedOps: FusedOp[]): GraphBuilder {
  const b = new GraphBuilder("bias_add");
  const x = b.input("x", "float32", [1, 16, 320]);
  const r = b.input("r", "float32", [1, 16, 320]);
  const weights = memoryWeights({
    "proj.weight": { shape: [320, 320], data: lcg31Values(320 * 320, 7).map((v) => v / 8) },
    "proj.bias": { shape: [320], data: lcg31Values(320, 8) },
  });
  const ctx = { b, weights, attention: "matmul" as const, fused: new Set(fusedOps) };
  b.output(linearPlusResidual(ctx, "proj", x, r), "y", "float32", [1, 16, 320]);
  return b;
}

/** biasAddGraph's inputs. */
export function biasAddFeeds(): Record<string, TensorData> {
  return {
    x: { dims: [1, 16, 320], data: lcg31Values(16 * 320, 3) },
    r: { dims: [1, 16, 320], data: lcg31Values(16 * 320, 4) },
  };
}
