/**
 * diffusers LoRA files, current and older:
 * - PEFT (diffusers ≥ 0.22): "unet.<module>.lora_A.weight" (down) / ".lora_B.weight" (up) and
 *   "text_encoder.<module>.…". No alpha tensor: B already holds up·alpha/rank when converted from
 *   kohya, so alpha defaults to rank (scale 1) unless the file's `lora_adapter_metadata` (PEFT
 *   LoraConfig: lora_alpha, alpha_pattern, use_rslora) or an "<module>.alpha" tensor says otherwise.
 * - older: "<module>.lora.down.weight", "<module>.lora_linear_layer.down.weight", and attention
 *   processors "<attn>.processor.to_q_lora.down.weight" (UNet) / "<self_attn>.to_q_lora.down.weight"
 *   (text encoder); files without a component prefix hold only the UNet.
 */
import {
  type LoraComponent,
  LoraFileError,
  type LoraModule,
  type LoraTensorReader,
  type ParsedLora,
  type UnmatchedLoraKey,
} from "./lora-module.js";
import { loraModuleFromPair } from "./lora-pair.js";
import type { LoraTargets } from "./lora-targets.js";

type Part = "down" | "up" | "alpha";

interface DiffusersKey {
  readonly component: LoraComponent;
  readonly module: string;
  readonly part: Part;
}

const COMPONENT_PREFIXES: readonly [string, LoraComponent][] = [
  ["unet.", "unet"],
  ["text_encoder.", "text_encoder"],
];

/** Old attention-processor LoRA leaves → the projection they adapt, per network. */
const PROCESSOR_LEAVES: Readonly<Record<LoraComponent, Readonly<Record<string, string>>>> = {
  unet: { to_q: "to_q", to_k: "to_k", to_v: "to_v", to_out: "to_out.0" },
  text_encoder: { to_q: "q_proj", to_k: "k_proj", to_v: "v_proj", to_out: "out_proj" },
};

const PATTERNS: readonly [RegExp, (m: RegExpExecArray, component: LoraComponent) => [string, Part]][] = [
  [/^(.+)\.lora_([AB])(?:\.[\w-]+)?\.weight$/, (m) => [m[1], m[2] === "A" ? "down" : "up"]],
  [/^(.+)\.lora(?:_linear_layer)?\.(down|up)\.weight$/, (m) => [m[1], m[2] as Part]],
  [
    /^(.+?)(?:\.processor)?\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$/,
    (m, c) => [`${m[1]}.${PROCESSOR_LEAVES[c][m[2]]}`, m[3] as Part],
  ],
  [/^(.+)\.alpha$/, (m) => [m[1], "alpha"]],
];

export function isDiffusersLoraKey(key: string): boolean {
  return /\.lora_[AB](?:\.[\w-]+)?\.weight$|[._]lora(?:_linear_layer)?\.(?:down|up)\.weight$/.test(key);
}

function parseKey(key: string): DiffusersKey | string {
  if (/^text_encoder_\d\./.test(key)) return "a second text encoder (SDXL); SD1.x and SD2.x have one";
  if (/lora_magnitude_vector/.test(key)) return "DoRA (lora_magnitude_vector) is not supported";
  let component: LoraComponent = "unet";
  let rest = key;
  for (const [prefix, c] of COMPONENT_PREFIXES) {
    if (key.startsWith(prefix)) {
      component = c;
      rest = key.slice(prefix.length);
    }
  }
  for (const [re, toModule] of PATTERNS) {
    const m = re.exec(rest);
    if (m) {
      const [module, part] = toModule(m, component);
      return { component, module, part };
    }
  }
  return "not a LoRA tensor (no lora_A/lora_B, lora.down/up or alpha part)";
}

/** PEFT LoraConfig fields diffusers stores (JSON) under `lora_adapter_metadata`. */
interface AdapterConfig {
  readonly loraAlpha?: number;
  readonly alphaPattern: Readonly<Record<string, number>>;
  readonly rankStabilized: boolean;
}

function adapterConfig(
  metadata: Readonly<Record<string, string>>,
  component: LoraComponent,
  file: string,
): AdapterConfig {
  const text = metadata.lora_adapter_metadata;
  if (text === undefined) return { alphaPattern: {}, rankStabilized: false };
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new LoraFileError(file, "__metadata__.lora_adapter_metadata is not valid JSON");
  }
  // pipeline saves prefix each field with the component ("unet.lora_alpha"); model saves do not
  const field = (name: string): unknown => parsed[`${component}.${name}`] ?? parsed[name];
  const alpha = field("lora_alpha");
  const pattern = field("alpha_pattern");
  return {
    loraAlpha: typeof alpha === "number" ? alpha : undefined,
    alphaPattern: pattern !== null && typeof pattern === "object" ? (pattern as Record<string, number>) : {},
    rankStabilized: field("use_rslora") === true,
  };
}

/** PEFT matches alpha_pattern keys as regexes against the end of the module path. */
function configAlpha(config: AdapterConfig, module: string): number | undefined {
  for (const [pattern, alpha] of Object.entries(config.alphaPattern)) {
    if (new RegExp(`(?:^|\\.)(?:${pattern})$`).test(module)) return alpha;
  }
  return config.loraAlpha;
}

interface Group {
  readonly component: LoraComponent;
  readonly module: string;
  readonly keys: string[];
  readonly parts: Map<Part, string>;
}

export function parseDiffusersLora(file: string, reader: LoraTensorReader, targets: LoraTargets): ParsedLora {
  const unmatched: UnmatchedLoraKey[] = [];
  const groups = new Map<string, Group>();
  for (const key of reader.names()) {
    const parsed = parseKey(key);
    if (typeof parsed === "string") {
      unmatched.push({ file, key, reason: parsed });
      continue;
    }
    const id = `${parsed.component}:${parsed.module}`;
    let group = groups.get(id);
    if (!group) {
      group = { component: parsed.component, module: parsed.module, keys: [], parts: new Map() };
      groups.set(id, group);
    }
    group.keys.push(key);
    group.parts.set(parsed.part, key);
  }

  const configs = {
    unet: adapterConfig(reader.metadata, "unet", file),
    text_encoder: adapterConfig(reader.metadata, "text_encoder", file),
  };
  const modules: LoraModule[] = [];
  for (const group of groups.values()) {
    const report = (reason: string) => {
      for (const key of group.keys) unmatched.push({ file, key, reason });
    };
    const target = targets.module(group.component, group.module);
    if (!target) {
      report(`the ${group.component} has no weight "${group.module}.weight"`);
      continue;
    }
    const downKey = group.parts.get("down");
    const upKey = group.parts.get("up");
    if (downKey === undefined || upKey === undefined) {
      report(
        `module "${group.module}" has no ${downKey === undefined ? "down (lora_A)" : "up (lora_B)"} weight`,
      );
      continue;
    }
    const config = configs[group.component];
    const alphaKey = group.parts.get("alpha");
    modules.push(
      loraModuleFromPair(file, {
        sourceName: `${group.component}.${group.module}`,
        target,
        down: reader.read(downKey),
        up: reader.read(upKey),
        alpha: alphaKey !== undefined ? reader.read(alphaKey).data[0] : configAlpha(config, group.module),
        rankStabilized: config.rankStabilized,
      }),
    );
  }
  return { modules, unmatched };
}
