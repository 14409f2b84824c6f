/**
 * Whether the pipeline loads one network at a time (low-memory mode: the text encoder is freed
 * before the UNet loads, the UNet before the VAE decodes). Asked for explicitly, that stands. On
 * WebGPU it is on by default unless the adapter reports enough video memory: SD1.5's weights alone
 * take 4.27 GB in fp32 (text encoder 0.49, UNet 3.44, VAE 0.33; half that in fp16), so all three
 * at once do not fit a 4 GB card, and onnxruntime-node does not say how much memory its adapter
 * has (gpu-adapter-info.ts reads what the system shows, often nothing). The CPU keeps today's
 * default (everything loaded), since host memory is what the user sees and sizes.
 */
import type { GpuAdapterInfo } from "./gpu-adapter-info.js";

/** Video memory from which WebGPU keeps every network loaded: fp32 weights and activations of SD1.5 at 512 px with room to spare. */
export const KEEP_LOADED_FROM_BYTES = 8 * 2 ** 30;

export interface LoadingChoice {
  readonly sequential: boolean;
  /** Why, in words (for --json and logs). */
  readonly reason: string;
}

export function chooseSequentialLoading(
  requested: boolean | undefined,
  executionProviders: readonly string[] | undefined,
  adapter: () => GpuAdapterInfo,
): LoadingChoice {
  if (requested !== undefined) return { sequential: requested, reason: "asked for" };
  if (executionProviders?.[0] !== "webgpu") return { sequential: false, reason: "CPU default" };
  const memory = adapter().memoryBytes;
  if (memory === undefined) {
    return { sequential: true, reason: "webgpu: the adapter's memory is unknown" };
  }
  const gib = (memory / 2 ** 30).toFixed(1);
  return memory < KEEP_LOADED_FROM_BYTES
    ? { sequential: true, reason: `webgpu: ${gib} GiB of video memory` }
    : { sequential: false, reason: `webgpu: ${gib} GiB of video memory` };
}
