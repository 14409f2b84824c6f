/**
 * Does the WebGPU adapter run f16 shaders (WebGPU's "shader-f16" feature)? onnxruntime-node does not
 * say which features its adapter has, and its WebGPU kernels accept fp16 graphs at session creation
 * only to fail at run time ("Program Cast requires f16 but the device does not support it", as on
 * SwiftShader). So: run a tiny fp16 graph (Cast → Mul → Cast) once per runtime and check its answer.
 * Any failure, including no adapter at all, is "no": the graphs then stay float32.
 */
import { GraphBuilder } from "../graph/graph-builder.js";
import { serializeModel } from "../graph/onnx-model.js";
import { ONNX_DATA_TYPE } from "../graph/onnx-proto.js";
import type { Runtime } from "../runtime/runtime.js";

const INPUT = Float32Array.of(0.5, -1.25, 3, 1024);

function f16Model() {
  const b = new GraphBuilder("webgpu_shader_f16_probe");
  const x = b.input("x", "float32", [INPUT.length]);
  const half = b.node("Cast", [x], { to: ONNX_DATA_TYPE.float16 });
  const doubled = b.node("Add", [half, half]);
  b.output(b.node("Cast", [doubled], { to: ONNX_DATA_TYPE.float32 }), "y", "float32", [INPUT.length]);
  return serializeModel(b);
}

async function check(runtime: Runtime): Promise<boolean> {
  if (!runtime.availableProviders().includes("webgpu")) return false;
  let session: Awaited<ReturnType<Runtime["createSession"]>> | undefined;
  try {
    session = await runtime.createSession(f16Model(), { executionProviders: ["webgpu"] });
    const out = await session.run({ x: { dims: [INPUT.length], data: INPUT } });
    const got = out.y.data as Float32Array;
    // every input and its double are exact in fp16
    return INPUT.every((v, i) => got[i] === 2 * v);
  } catch {
    return false;
  } finally {
    await session?.release().catch(() => undefined);
  }
}

const answers = new WeakMap<Runtime, Promise<boolean>>();

/** Whether `runtime`'s WebGPU provider runs fp16 graphs right; asked once per runtime. */
export function webGpuRunsF16(runtime: Runtime): Promise<boolean> {
  let answer = answers.get(runtime);
  if (!answer) {
    answer = check(runtime);
    answers.set(runtime, answer);
  }
  return answer;
}
