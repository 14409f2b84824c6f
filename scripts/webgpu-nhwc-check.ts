/**
 * Does the WebGPU provider's NHWC layout (`preferredLayout: "NHWC"`, onnxruntime's default and the
 * WebGPU variant's, SessionOptions.webgpuLayout) compute the tiny SD1.5 networks right? Runs the
 * WebGPU variant's graphs (matmul attention, its fused ops) with onnxruntime-node directly, NCHW and NHWC, against the
 * plain graph on the CPU provider. One-off (SwiftShader takes minutes), not part of `npm test`:
 *
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json npx tsx scripts/webgpu-nhwc-check.ts
 */
import * as ort from "onnxruntime-node";
import { WEBGPU_FUSED_OPS } from "../src/engine/graph-variant.js";
import type { GraphBuilder } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { buildUNetGraph, UNET_INPUTS, UNET_OUTPUT } from "../src/graph/unet.js";
import { buildVaeDecoderGraph, VAE_DECODER_INPUT, VAE_DECODER_OUTPUT } from "../src/graph/vae.js";
import { loadModel } from "../src/weights/load-model.js";

const model = loadModel(process.argv[2] ?? "../shared/fixtures/models/tiny-sd15");
if (model.format === "onnx") throw new Error("needs a checkpoint or diffusers folder");

function values(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return (s / 2 ** 31) * 2 - 1;
  });
}

async function run(
  graph: GraphBuilder,
  ep: ort.InferenceSession.ExecutionProviderConfig,
  feeds: Record<string, ort.Tensor>,
  output: string,
): Promise<Float32Array> {
  const m = serializeModel(graph);
  const session = await ort.InferenceSession.create(m.bytes, {
    executionProviders: [ep],
    externalData: m.externalData.map((e) => ({ path: e.path, data: e.data })),
  });
  const out = (await session.run(feeds))[output].data as Float32Array;
  await session.release();
  return out;
}

const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

interface Case {
  readonly name: string;
  readonly plain: () => GraphBuilder;
  readonly gpu: () => GraphBuilder;
  readonly feeds: Record<string, ort.Tensor>;
  readonly output: string;
}

const cases: Case[] = [
  {
    name: "VAE decoder",
    plain: () => buildVaeDecoderGraph(model.vae.weights, model.vae.config, { attention: "matmul" }),
    gpu: () => buildVaeDecoderGraph(model.vae.weights, model.vae.config, { attention: "matmul" }),
    feeds: { [VAE_DECODER_INPUT]: new ort.Tensor("float32", values(4 * 8 * 8, 3), [1, 4, 8, 8]) },
    output: VAE_DECODER_OUTPUT,
  },
  {
    name: "UNet",
    plain: () => buildUNetGraph(model.unet.weights, model.unet.config, { attention: "matmul" }),
    gpu: () =>
      buildUNetGraph(model.unet.weights, model.unet.config, {
        attention: "matmul",
        fusedOps: WEBGPU_FUSED_OPS,
      }),
    feeds: {
      [UNET_INPUTS.sample]: new ort.Tensor("float32", values(4 * 8 * 8, 1), [1, 4, 8, 8]),
      [UNET_INPUTS.timestep]: new ort.Tensor("float32", Float32Array.of(500), [1]),
      [UNET_INPUTS.encoderHiddenStates]: new ort.Tensor(
        "float32",
        values(77 * model.unet.config.crossAttentionDim, 2),
        [1, 77, model.unet.config.crossAttentionDim],
      ),
    },
    output: UNET_OUTPUT,
  },
];

for (const c of cases) {
  const want = await run(c.plain(), "cpu", c.feeds, c.output);
  for (const preferredLayout of ["NCHW", "NHWC"] as const) {
    try {
      const got = await run(c.gpu(), { name: "webgpu", preferredLayout }, c.feeds, c.output);
      console.log(
        `${c.name} webgpu ${preferredLayout}: max |diff| vs CPU ${maxDiff(want, got).toExponential(2)}`,
      );
    } catch (err) {
      console.log(`${c.name} webgpu ${preferredLayout}: failed: ${String(err).split("\n")[0]}`);
    }
  }
}
model.close();
