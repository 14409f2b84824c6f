/**
 * The WebGPU adapter the tests run on without a GPU: Chromium's SwiftShader Vulkan driver, loaded
 * by libvulkan1 for the Dawn inside onnxruntime-node (../shared/ECOSYSTEM.md "WebGPU without a
 * GPU"). Where it is missing the tests fail and say what to install; they never skip.
 */
import { existsSync } from "node:fs";

export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";
const VULKAN_LOADERS = [
  "/usr/lib/x86_64-linux-gnu/libvulkan.so.1",
  "/usr/lib/aarch64-linux-gnu/libvulkan.so.1",
];

/** The environment that gives onnxruntime-node's WebGPU provider the SwiftShader adapter. */
export function swiftShaderEnv(): { VK_ICD_FILENAMES: string } {
  const missing = [
    existsSync(SWIFTSHADER_ICD) ? undefined : `${SWIFTSHADER_ICD} (Debian package chromium)`,
    VULKAN_LOADERS.some((p) => existsSync(p)) ? undefined : "libvulkan.so.1 (Debian package libvulkan1)",
  ].filter((m) => m !== undefined);
  if (missing.length) {
    throw new Error(
      `no WebGPU adapter for the tests: missing ${missing.join(" and ")}; apt-get install -y chromium libvulkan1`,
    );
  }
  return { VK_ICD_FILENAMES: SWIFTSHADER_ICD };
}

/** Points Vulkan at a driver file that does not exist: no adapter at all. */
export const NO_ADAPTER_ENV = { VK_ICD_FILENAMES: "/nonexistent/sdlite-no-vulkan-driver.json" };
