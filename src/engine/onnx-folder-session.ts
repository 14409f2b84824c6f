/**
 * Sessions over an ONNX pipeline folder's models, run as they are. When onnxruntime refuses one,
 * the error names the model file, the providers tried and the non-standard ops the model uses:
 * exports optimised for one provider (e.g. CUDA's fused com.microsoft::GroupNorm) fail elsewhere
 * with only "Could not find an implementation for GroupNorm(1) node".
 */
import {
  ExecutionProviderError,
  type Runtime,
  type Session,
  type SessionOptions,
} from "../runtime/runtime.js";
import type { OnnxComponent } from "../weights/loaded-model.js";

export class OnnxModelSessionError extends Error {
  constructor(
    readonly modelPath: string,
    readonly customOps: readonly string[],
    message: string,
  ) {
    super(message);
    this.name = "OnnxModelSessionError";
  }
}

export async function createOnnxFolderSession(
  runtime: Runtime,
  component: OnnxComponent,
  options: SessionOptions,
): Promise<Session> {
  try {
    return await runtime.createSession({ path: component.modelPath }, options);
  } catch (err) {
    if (err instanceof ExecutionProviderError) throw err; // already names the provider and the alternatives
    const providers = (options.executionProviders ?? ["cpu"]).join(", ");
    const detail = err instanceof Error ? err.message.split("\n")[0] : String(err);
    const ops = component.customOps;
    const hint =
      ops.length > 0
        ? `; it uses non-standard ops (${ops.join(", ")}): exports optimised for one provider (onnxruntime's CUDA optimiser fuses GroupNorm into com.microsoft::GroupNorm, for one) need ops other providers lack; use a plain export (diffusers' convert_stable_diffusion_checkpoint_to_onnx.py) or the checkpoint instead`
        : "";
    throw new OnnxModelSessionError(
      component.modelPath,
      ops,
      `${component.modelPath}: onnxruntime cannot run this model with provider(s) ${providers}: ${detail}${hint}`,
    );
  }
}
