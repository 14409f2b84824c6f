/**
 * The WebGPU probe as a process of its own (webgpu-probe-process.ts starts it): Dawn and the Vulkan
 * loader write their warnings straight to file descriptor 2, and a broken driver may crash; both
 * stay in this process. Prints the probe's answer as one JSON line.
 */
import { onnxruntimeNode } from "../runtime/onnxruntime-node.js";
import { probeWebGpu } from "./webgpu-probe.js";

const answer = await probeWebGpu(onnxruntimeNode());
process.stdout.write(`${JSON.stringify(answer)}\n`);
