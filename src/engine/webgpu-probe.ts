/**
 * Is WebGPU usable here? Creates a session for a tiny MatMul→Softmax graph on the WebGPU provider
 * alone and checks its answer against the same sum done in JavaScript. Session creation fails when
 * there is no adapter; a wrong answer means an adapter that runs but cannot be trusted. Either way
 * the caller gets one line saying why, never an exception.
 */
import { GraphBuilder } from "../graph/graph-builder.js";
import { serializeModel } from "../graph/onnx-model.js";
import type { Runtime } from "../runtime/runtime.js";

export type WebGpuProbe = { readonly usable: true } | { readonly usable: false; readonly reason: string };

const SIZE = 8;
/** The probe's weight and input: small fixed values with distinct softmax outputs. */
const weight = Float32Array.from({ length: SIZE * SIZE }, (_, i) => ((i * 7) % 11) / 11 - 0.5);
const input = Float32Array.from({ length: SIZE }, (_, i) => i / SIZE - 0.25);

function probeModel() {
  const b = new GraphBuilder("webgpu_probe");
  const x = b.input("x", "float32", [1, SIZE]);
  const w = b.initializer({ name: "w", elementType: "float32", dims: [SIZE, SIZE], data: weight });
  const y = b.node("Softmax", [b.node("MatMul", [x, w])], { axis: -1 });
  b.output(y, "y", "float32", [1, SIZE]);
  return serializeModel(b);
}

function expected(): Float32Array {
  const logits = Array.from({ length: SIZE }, (_, j) =>
    input.reduce((sum, v, k) => sum + v * weight[k * SIZE + j], 0),
  );
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return Float32Array.from(exps, (e) => e / total);
}

/** The first line of an onnxruntime/Dawn error (they run to many lines of stack and log). */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // onnxruntime puts its source location and a C++ signature before the reason
  const reason = text.match(/Failed to get a WebGPU adapter[^\n]*/);
  if (reason) return reason[0].trim().slice(0, 300);
  return (text.split("\n").find((l) => l.trim() !== "") ?? text).trim().slice(0, 300);
}

export async function probeWebGpu(runtime: Runtime): Promise<WebGpuProbe> {
  if (!runtime.availableProviders().includes("webgpu")) {
    return {
      usable: false,
      reason: `${runtime.name} on ${process.platform}-${process.arch} has no WebGPU provider`,
    };
  }
  let session: Awaited<ReturnType<Runtime["createSession"]>> | undefined;
  try {
    session = await runtime.createSession(probeModel(), { executionProviders: ["webgpu"] });
    const out = await session.run({ x: { dims: [1, SIZE], data: input } });
    const got = out.y.data as Float32Array;
    const want = expected();
    const worst = Math.max(...want.map((v, i) => Math.abs(v - got[i])));
    if (!(worst <= 1e-4)) {
      return { usable: false, reason: `the WebGPU adapter computed a test graph wrong (off by ${worst})` };
    }
    return { usable: true };
  } catch (err) {
    return { usable: false, reason: `no usable WebGPU adapter: ${firstLine(err)}` };
  } finally {
    await session?.release().catch(() => undefined);
  }
}
