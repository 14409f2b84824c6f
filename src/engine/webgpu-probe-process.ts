/**
 * probeWebGpu in a child process (webgpu-probe-child.ts), so that a failing adapter costs the user
 * one line from sdlite instead of Dawn's and Vulkan's stderr noise, and a driver that crashes
 * cannot take sdlite with it. The child runs with this process's Node flags (tsx from the sources).
 */
import { spawn } from "node:child_process";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import type { WebGpuProbe } from "./webgpu-probe.js";

/** SwiftShader compiles even the probe's two shaders slowly on a busy machine. */
const PROBE_TIMEOUT_MS = 120_000;

export function probeWebGpuInChild(): Promise<WebGpuProbe> {
  const self = fileURLToPath(import.meta.url);
  const child = fileURLToPath(new URL(`./webgpu-probe-child${extname(self)}`, import.meta.url));
  return new Promise((resolvePromise) => {
    const proc = spawn(process.execPath, [...process.execArgv, child], {
      stdio: ["ignore", "pipe", "pipe"],
      timeout: PROBE_TIMEOUT_MS,
    });
    let stdout = "";
    proc.stdout.setEncoding("utf-8").on("data", (d: string) => {
      stdout += d;
    });
    proc.stderr.resume(); // Dawn's and the Vulkan loader's warnings: dropped
    proc.on("error", (err) =>
      resolvePromise({ usable: false, reason: `the WebGPU probe did not start: ${err.message}` }),
    );
    proc.on("close", (code, signal) => {
      const last = stdout.trim().split("\n").pop() ?? "";
      try {
        const answer = JSON.parse(last) as WebGpuProbe;
        if (typeof answer.usable === "boolean") return resolvePromise(answer);
      } catch {
        // no answer: said below
      }
      const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
      resolvePromise({ usable: false, reason: `the WebGPU probe process ${how} without an answer` });
    });
  });
}
