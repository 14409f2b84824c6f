/**
 * kohya-ss / AUTOMATIC1111 LoRA files: "<kohya module name>.lora_down.weight", ".lora_up.weight"
 * and ".alpha" (a scalar), where the module name is "lora_unet_" or "lora_te_" plus the module path
 * with "." → "_" (diffusers or LDM layout). Module names never contain ".", so everything after
 * the first "." says which part of the module a tensor is.
 */
import type { LoraModule, LoraTensorReader, ParsedLora, UnmatchedLoraKey } from "./lora-module.js";
import { loraModuleFromPair } from "./lora-pair.js";
import type { LoraTargets } from "./lora-targets.js";

const PARTS = ["lora_down.weight", "lora_up.weight", "alpha"] as const;
type Part = (typeof PARTS)[number];

/** Tensors kohya-family tools write that are not plain LoRA, with what they are. */
const UNSUPPORTED_PARTS: readonly [RegExp, string][] = [
  [/^lora_mid\./, "LoCon CP decomposition (lora_mid) is not supported"],
  [/^dora_scale$/, "DoRA (dora_scale) is not supported"],
  [/^hada_/, "LyCORIS LoHa is not supported"],
  [/^lokr_/, "LyCORIS LoKr is not supported"],
  [/^(?:diff|diff_b|on_input|b_norm|w_norm)$/, "LyCORIS full/norm diff is not supported"],
];

export function isKohyaKey(key: string): boolean {
  return /^lora_(?:unet|te\d?)_/.test(key);
}

interface KohyaGroup {
  readonly keys: string[];
  readonly parts: Map<Part, string>;
  readonly unsupported: string[];
}

function hint(moduleName: string): string {
  if (/^lora_te[12]_/.test(moduleName)) return " (an SDXL text-encoder name; SD1.x has one text encoder)";
  if (!/^lora_(?:unet|te)_/.test(moduleName)) return " (not a lora_unet_/lora_te_ name)";
  return "";
}

export function parseKohyaLora(file: string, reader: LoraTensorReader, targets: LoraTargets): ParsedLora {
  const unmatched: UnmatchedLoraKey[] = [];
  const groups = new Map<string, KohyaGroup>();
  for (const key of reader.names()) {
    const dot = key.indexOf(".");
    if (dot < 0) {
      unmatched.push({ file, key, reason: "not a LoRA tensor (no .lora_down/.lora_up/.alpha part)" });
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
    if ((PARTS as readonly string[]).includes(part)) group.parts.set(part as Part, key);
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
    const downKey = group.parts.get("lora_down.weight");
    const upKey = group.parts.get("lora_up.weight");
    if (downKey === undefined || upKey === undefined) {
      report(`module "${name}" has no ${downKey === undefined ? "lora_down" : "lora_up"} weight`);
      continue;
    }
    const alphaKey = group.parts.get("alpha");
    modules.push(
      loraModuleFromPair(file, {
        sourceName: name,
        target: lookup.target,
        down: reader.read(downKey),
        up: reader.read(upKey),
        alpha: alphaKey === undefined ? undefined : reader.read(alphaKey).data[0],
      }),
    );
  }
  return { modules, unmatched };
}
