/**
 * A1111's extra-network tags in prompts: `<lora:name:weight>` (also `<lyco:…>`), parsed and removed
 * the way modules/extra_networks.py does it: every `<kind:args>` tag is cut out of the prompt,
 * its args split on ':'; `key=value` items are named, the rest positional. For LoRAs
 * (extensions-builtin/Lora/networks.py): positional[1] is the text-encoder multiplier (default 1),
 * positional[2] the UNet multiplier (default: the text-encoder one); `te=`/`unet=` override them.
 */

/** A1111's re_extra_net: `<` word `:` anything but `>` `>`. */
const EXTRA_NETWORK_TAG = /<(\w+):([^>]+)>/g;

/** Tag kinds that mean a LoRA (LyCORIS' own extension used `lyco`). */
const LORA_KINDS = new Set(["lora", "lyco"]);

export interface LoraTag {
  /** Name as written in the tag: a file stem or alias in the LoRA folder. */
  readonly name: string;
  readonly textEncoderWeight: number;
  readonly unetWeight: number;
}

export interface OtherExtraNetworkTag {
  readonly kind: string;
  readonly args: string;
}

export interface ParsedPromptTags {
  /** The prompt with every extra-network tag removed (the text the text encoder sees). */
  readonly prompt: string;
  /** LoRAs in order of first mention; repeated names are merged by adding their weights. */
  readonly loras: readonly LoraTag[];
  /** Other extra-network kinds (hypernet, …), removed from the prompt as A1111 does, not applied. */
  readonly others: readonly OtherExtraNetworkTag[];
}

export class LoraTagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LoraTagError";
  }
}

function parseWeight(text: string, tag: string, what: string): number {
  const value = Number(text.trim());
  if (text.trim() === "" || !Number.isFinite(value)) {
    throw new LoraTagError(`${tag}: the ${what} "${text}" is not a number`);
  }
  return value;
}

function parseLoraArgs(args: string, tag: string): LoraTag {
  const positional: string[] = [];
  const named = new Map<string, string>();
  for (const item of args.split(":")) {
    const eq = item.indexOf("=");
    if (eq >= 0) named.set(item.slice(0, eq).trim(), item.slice(eq + 1));
    else positional.push(item);
  }
  const name = (positional[0] ?? "").trim();
  if (name === "") throw new LoraTagError(`${tag}: the LoRA name is missing`);
  let te = positional.length > 1 ? parseWeight(positional[1], tag, "weight") : 1;
  if (named.has("te")) te = parseWeight(named.get("te")!, tag, "te weight");
  let unet = positional.length > 2 ? parseWeight(positional[2], tag, "UNet weight") : te;
  if (named.has("unet")) unet = parseWeight(named.get("unet")!, tag, "unet weight");
  return { name, textEncoderWeight: te, unetWeight: unet };
}

export function parsePromptTags(prompt: string): ParsedPromptTags {
  const loras: LoraTag[] = [];
  const others: OtherExtraNetworkTag[] = [];
  const cleaned = prompt.replace(EXTRA_NETWORK_TAG, (tag: string, kind: string, args: string) => {
    if (!LORA_KINDS.has(kind.toLowerCase())) {
      others.push({ kind, args });
      return "";
    }
    const lora = parseLoraArgs(args, tag);
    const seen = loras.findIndex((l) => l.name === lora.name);
    // fusing W + a·ΔW then + b·ΔW is fusing (a + b)·ΔW: one entry per file
    if (seen >= 0) {
      const prev = loras[seen];
      loras[seen] = {
        name: prev.name,
        textEncoderWeight: prev.textEncoderWeight + lora.textEncoderWeight,
        unetWeight: prev.unetWeight + lora.unetWeight,
      };
    } else loras.push(lora);
    return "";
  });
  return { prompt: cleaned, loras, others };
}
