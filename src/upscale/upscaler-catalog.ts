/**
 * The upscalers a server offers, as A1111 lists them (GET /sdapi/v1/upscalers): "None", "Lanczos",
 * "Nearest", then every ESRGAN-family weights file (.pth, .pt, .safetensors) below the upscalers
 * folder, named by its file stem. The scale comes from the file's tensor shapes, read once per
 * file version; a file that is no upscaler is left out of the list but still found by name, so
 * asking for it gets the reason.
 */
import { readdirSync, statSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { CLASSIC_UPSCALER_NAMES } from "./classic-upscalers.js";
import type { UpscalerArchitecture } from "./esrgan-architecture.js";
import { openUpscalerWeights } from "./upscaler-weights.js";

const WEIGHT_EXTENSIONS = new Set([".pth", ".pt", ".safetensors"]);

export interface UpscalerEntry {
  readonly name: string;
  /** Undefined for the resamplers. */
  readonly path?: string;
  /** Undefined for the resamplers and for files that are not readable upscalers. */
  readonly architecture?: UpscalerArchitecture;
  /** Why the file is not usable, when it is not. */
  readonly problem?: string;
}

/** A1111's /sdapi/v1/upscalers item. */
export interface A1111Upscaler {
  name: string;
  model_name: string | null;
  model_path: string | null;
  model_url: string | null;
  scale: number;
}

function weightFilesBelow(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => !e.isDirectory() && WEIGHT_EXTENSIONS.has(extname(e.name).toLowerCase()))
      .map((e) => join(e.parentPath ?? e.path, e.name))
      .sort();
  } catch {
    return [];
  }
}

export class UpscalerCatalog {
  /** path → (mtime:size, what was found), so a rescan reads only new or changed files. */
  private readonly inspected = new Map<string, { stamp: string; entry: UpscalerEntry }>();

  constructor(readonly dir: string | undefined) {}

  private inspect(path: string): UpscalerEntry | undefined {
    let stamp: string;
    try {
      const st = statSync(path);
      stamp = `${st.mtimeMs}:${st.size}`;
    } catch {
      return undefined;
    }
    const cached = this.inspected.get(path);
    if (cached?.stamp === stamp) return cached.entry;
    const name = basename(path, extname(path));
    let entry: UpscalerEntry;
    try {
      const weights = openUpscalerWeights(path);
      weights.close();
      entry = { name, path, architecture: weights.architecture };
    } catch (err) {
      entry = { name, path, problem: err instanceof Error ? err.message : String(err) };
    }
    this.inspected.set(path, { stamp, entry });
    return entry;
  }

  /** Every file below the folder (usable or not), first of two same-named files winning. */
  private files(): UpscalerEntry[] {
    if (!this.dir) return [];
    const out: UpscalerEntry[] = [];
    for (const path of weightFilesBelow(this.dir)) {
      const entry = this.inspect(path);
      if (entry && !out.some((e) => e.name === entry.name)) out.push(entry);
    }
    return out;
  }

  /** The resamplers, then the usable model files. */
  list(): UpscalerEntry[] {
    const classic = CLASSIC_UPSCALER_NAMES.map((name): UpscalerEntry => ({ name }));
    return [...classic, ...this.files().filter((e) => e.architecture)];
  }

  /** By name (exact, then case-insensitive), also by file name with its extension. */
  find(name: string): UpscalerEntry | undefined {
    const all = [...CLASSIC_UPSCALER_NAMES.map((n): UpscalerEntry => ({ name: n })), ...this.files()];
    const lower = name.toLowerCase();
    return (
      all.find((e) => e.name === name) ??
      all.find((e) => e.name.toLowerCase() === lower) ??
      all.find((e) => e.path !== undefined && basename(e.path).toLowerCase() === lower)
    );
  }

  names(): string[] {
    return this.list().map((e) => e.name);
  }
}

export function toA1111Upscaler(entry: UpscalerEntry): A1111Upscaler {
  const a = entry.architecture;
  return {
    name: entry.name,
    model_name: a ? (a.kind === "rrdb" ? "ESRGAN_4x" : "RealESRGAN") : null,
    model_path: entry.path ?? null,
    model_url: null,
    scale: a?.scale ?? 4,
  };
}
