/**
 * The LoRA folder as A1111's Lora extension sees it: every .safetensors below it, named by its
 * file stem, with its training metadata; `alias` is the metadata's `ss_output_name` when present
 * (the "Alias from file" default). Prompt tags find a file by name first, then by alias.
 */
import { existsSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { SafetensorsFile } from "../weights/formats/safetensors.js";

export interface LoraEntry {
  readonly name: string;
  readonly alias: string;
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>>;
}

function safetensorsBelow(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => !e.isDirectory() && e.name.toLowerCase().endsWith(".safetensors"))
      .map((e) => join(e.parentPath ?? e.path, e.name))
      .sort();
  } catch {
    return [];
  }
}

function readMetadata(path: string): Readonly<Record<string, string>> | undefined {
  try {
    const file = SafetensorsFile.open(path);
    try {
      return file.metadata;
    } finally {
      file.close();
    }
  } catch {
    return undefined; // not a safetensors file after all: not listed
  }
}

export class LoraCatalog {
  private entries: LoraEntry[] = [];

  constructor(readonly dir: string | undefined) {
    this.refresh();
  }

  refresh(): void {
    if (!this.dir || !existsSync(this.dir)) {
      this.entries = [];
      return;
    }
    const entries: LoraEntry[] = [];
    for (const path of safetensorsBelow(this.dir)) {
      const metadata = readMetadata(path);
      if (!metadata) continue;
      const name = basename(path).replace(/\.safetensors$/i, "");
      if (entries.some((e) => e.name === name)) continue; // the first of two same-named files wins
      const alias = metadata.ss_output_name?.trim() || name;
      entries.push({ name, alias, path, metadata });
    }
    this.entries = entries;
  }

  list(): readonly LoraEntry[] {
    return this.entries;
  }

  /** By name, then alias; rescans the folder once when nothing matches (a file just added). */
  find(name: string): LoraEntry | undefined {
    const lookup = () =>
      this.entries.find((e) => e.name === name) ?? this.entries.find((e) => e.alias === name);
    const found = lookup();
    if (found) return found;
    this.refresh();
    return lookup();
  }
}
