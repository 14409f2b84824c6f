/**
 * The WebGPU adapters the tests run on without a GPU, each a software Vulkan driver loaded by
 * libvulkan1 for the Dawn inside onnxruntime-node (../shared/ECOSYSTEM.md "WebGPU without a GPU"):
 * Chromium's SwiftShader (no f16 shaders) for most tests, and Mesa's lavapipe, the one with f16
 * shaders, for the fp16 graphs. Where one is missing the tests fail and say what to install; they
 * never skip.
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

/**
 * Mesa's lavapipe from Mesa 25 (Debian 13, or bookworm-backports on Debian 12). Mesa 22.3's
 * (Debian 12) is refused by Dawn: it lacks shaderSampledImageArrayDynamicIndexing and
 * shaderStorageImageArrayDynamicIndexing ("Vulkan shaderUniform*ArrayDynamicIndexing required"), and
 * it names its driver file lvp_icd.x86_64.json, so the missing file below says "too old" too.
 */
export const LAVAPIPE_ICD = "/usr/share/vulkan/icd.d/lvp_icd.json";

/** The environment that gives onnxruntime-node's WebGPU provider the lavapipe adapter (shader-f16). */
export function lavapipeEnv(): { VK_ICD_FILENAMES: string } {
  const missing = [
    existsSync(LAVAPIPE_ICD) ? undefined : `${LAVAPIPE_ICD} (Mesa 25's Debian package mesa-vulkan-drivers)`,
    VULKAN_LOADERS.some((p) => existsSync(p)) ? undefined : "libvulkan.so.1 (Debian package libvulkan1)",
  ].filter((m) => m !== undefined);
  if (missing.length) {
    throw new Error(
      `no lavapipe adapter for the fp16 WebGPU tests: missing ${missing.join(" and ")}; on Debian 12: ` +
        "apt-get install -y libvulkan1 && apt-get install -y -t bookworm-backports mesa-vulkan-drivers",
    );
  }
  return { VK_ICD_FILENAMES: LAVAPIPE_ICD };
}

/** Points Vulkan at a driver file that does not exist: no adapter at all. */
export const NO_ADAPTER_ENV = { VK_ICD_FILENAMES: "/nonexistent/sdlite-no-vulkan-driver.json" };
