/**
 * kohya-ss / AUTOMATIC1111 LoRA and LyCORIS files: "<kohya module name>.<part>", where the module
 * name is "lora_unet_" or "lora_te_" plus the module path with "." → "_" (diffusers or LDM layout)
 * and the parts are LoRA's ".lora_down.weight", ".lora_up.weight", ".alpha", or LyCORIS' (LoCon
 * core, LoHa, LoKr, full, DoRA: lycoris-module.ts). Module names never contain ".", so everything
 * after the first "." says which part of the module a tensor is.
 */
import type {
  LoraModule,
  LoraTensor,
  LoraTensorReader,
  ParsedLora,
  UnmatchedLoraKey,
} from "./lora-module.js";
import type { LoraTargets } from "./lora-targets.js";
import { MODULE_PARTS, moduleFromParts, UNSUPPORTED_PARTS } from "./lycoris-module.js";

export function isKohyaKey(key: string): boolean {
  return /^lora_(?:unet|te\d?)_/.test(key);
}

interface KohyaGroup {
  readonly keys: string[];
  readonly parts: Map<string, string>;
  readonly unsupported: string[];
}

function hint(moduleName: string): string {
  if (/^lora_te[12]_/.test(moduleName))
    return " (an SDXL text-encoder name; SD1.x and SD2.x have one text encoder)";
  if (!/^lora_(?:unet|te)_/.test(moduleName)) return " (not a lora_unet_/lora_te_ name)";
  return "";
}

export function parseKohyaLora(file: string, reader: LoraTensorReader, targets: LoraTargets): ParsedLora {
  const unmatched: UnmatchedLoraKey[] = [];
  const groups = new Map<string, KohyaGroup>();
  for (const key of reader.names()) {
    const dot = key.indexOf(".");
    if (dot < 0) {
      unmatched.push({ file, key, reason: "not a LoRA tensor (no .lora_down/.lora_up/.alpha/LyCORIS part)" });
      continue;
    }
    const name = key.slice(0, dot);
    const part = key.slice(dot + 1);
    let group = groups.get(name);
    if (!group) {
      group = { keys: [], parts: new Map(), unsupported: [] };
      groups.set(name, group);
    }
    group.keys.push(key);
    if (MODULE_PARTS.has(part)) group.parts.set(part, key);
    else {
      const known = UNSUPPORTED_PARTS.find(([re]) => re.test(part));
      group.unsupported.push(known ? known[1] : `unknown tensor ".${part}"`);
    }
  }

  const modules: LoraModule[] = [];
  for (const [name, group] of groups) {
    const report = (reason: string) => {
      for (const key of group.keys) unmatched.push({ file, key, reason });
    };
    // a module with extra parts would be applied wrongly without them: report all of it
    if (group.unsupported.length > 0) {
      report(`module "${name}": ${[...new Set(group.unsupported)].join("; ")}`);
      continue;
    }
    const lookup = targets.kohya(name);
    if ("error" in lookup) {
      report(`${lookup.error}${hint(name)}`);
      continue;
    }
    const cache = new Map<string, LoraTensor>();
    const read = (part: string) => {
      const key = group.parts.get(part);
      if (key === undefined) return undefined;
      if (!cache.has(key)) cache.set(key, reader.read(key));
      return cache.get(key);
    };
    const module = moduleFromParts(file, name, lookup.target, read);
    if (typeof module === "string") report(module);
    else modules.push(module);
  }
  return { modules, unmatched };
}
