/**
 * What can be said about the GPU adapter WebGPU runs on. onnxruntime-node creates its own WebGPU
 * (Dawn) instance and does not report which adapter it picked, so this reads what the system
 * shows: on Linux, the Vulkan drivers Dawn can load (VK_ICD_FILENAMES or the ICD folders) and the
 * DRM cards' PCI vendor and video memory. Fields that cannot be known are left out, never guessed.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";

export interface GpuAdapterInfo {
  /** The graphics API Dawn uses on this platform. */
  readonly api: "vulkan" | "d3d12" | "metal" | "unknown";
  /** Name of the adapter (from the driver): e.g. "SwiftShader" for Chromium's software Vulkan. */
  readonly name?: string;
  /** PCI vendors of the machine's GPUs (Linux DRM). */
  readonly vendor?: string;
  /** Video memory of the machine's GPUs in bytes, where the kernel driver reports it (amdgpu). */
  readonly memoryBytes?: number;
  /** Vulkan driver libraries Dawn can load (Linux). */
  readonly drivers?: readonly string[];
  /** Every driver Dawn can load rasterises on the CPU (SwiftShader, Mesa's lavapipe). */
  readonly software?: boolean;
}

/** The software Vulkan drivers sdlite knows, by library name: they run shaders on the CPU. */
const SOFTWARE_DRIVERS: readonly { pattern: RegExp; name: string; vendor: string }[] = [
  { pattern: /swiftshader/i, name: "SwiftShader (software)", vendor: "Google" },
  { pattern: /^libvulkan_lvp\./i, name: "lavapipe (software)", vendor: "Mesa" },
];

function softwareDriver(library: string) {
  return SOFTWARE_DRIVERS.find((d) => d.pattern.test(library));
}

const PCI_VENDORS: Readonly<Record<string, string>> = {
  "0x8086": "Intel",
  "0x10de": "NVIDIA",
  "0x1002": "AMD",
  "0x13b5": "ARM",
  "0x5143": "Qualcomm",
};

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf-8").trim();
  } catch {
    return undefined;
  }
}

function icdManifests(): string[] {
  const explicit = process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES;
  if (explicit) return explicit.split(":").filter((p) => p !== "");
  const dirs = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"];
  return dirs.flatMap((d) => (existsSync(d) ? readdirSync(d).map((f) => join(d, f)) : []));
}

function vulkanDrivers(): string[] {
  const drivers: string[] = [];
  for (const manifest of icdManifests()) {
    const text = readText(manifest);
    if (!text) continue;
    try {
      const library = (JSON.parse(text) as { ICD?: { library_path?: string } }).ICD?.library_path;
      if (library) drivers.push(basename(library));
    } catch {
      // not a manifest
    }
  }
  return drivers;
}

function drmCards(): { vendors: string[]; memoryBytes?: number } {
  const root = "/sys/class/drm";
  if (!existsSync(root)) return { vendors: [] };
  const vendors = new Set<string>();
  let memoryBytes: number | undefined;
  for (const card of readdirSync(root).filter((c) => /^card\d+$/.test(c))) {
    const vendorId = readText(join(root, card, "device", "vendor"));
    if (vendorId) vendors.add(PCI_VENDORS[vendorId] ?? vendorId);
    const vram = Number(readText(join(root, card, "device", "mem_info_vram_total")));
    if (Number.isFinite(vram) && vram > 0) memoryBytes = (memoryBytes ?? 0) + vram;
  }
  return { vendors: [...vendors], memoryBytes };
}

export function gpuAdapterInfo(): GpuAdapterInfo {
  if (process.platform === "win32") return { api: "d3d12" };
  if (process.platform === "darwin") return { api: "metal" };
  if (process.platform !== "linux") return { api: "unknown" };
  const drivers = vulkanDrivers();
  const software = drivers.length > 0 && drivers.every((d) => softwareDriver(d) !== undefined);
  // with several software drivers, Dawn's order is not known: name one only when it is the only one
  const named = software && drivers.length === 1 ? softwareDriver(drivers[0]) : undefined;
  const { vendors, memoryBytes } = drmCards();
  return {
    api: "vulkan",
    ...(named ? { name: named.name, vendor: named.vendor } : {}),
    ...(!software && vendors.length ? { vendor: vendors.join(", ") } : {}),
    ...(!software && memoryBytes ? { memoryBytes } : {}),
    ...(drivers.length ? { drivers } : {}),
    ...(software ? { software } : {}),
  };
}

/** One line for stderr: "SwiftShader (software), Google, vulkan" and what else is known. */
export function describeAdapter(info: GpuAdapterInfo): string {
  const parts = [info.name, info.vendor, info.api];
  if (info.memoryBytes) parts.push(`${(info.memoryBytes / 2 ** 30).toFixed(1)} GiB video memory`);
  if (!info.name && info.drivers?.length) parts.push(`driver ${info.drivers.join(", ")}`);
  return parts.filter((p) => p !== undefined).join(", ");
}
