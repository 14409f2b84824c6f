/**
 * One kohya-named module of a LoRA or LyCORIS file, from its parts (what follows the module name):
 * LoRA/LoCon `lora_down.weight`, `lora_up.weight` (+ `lora_mid.weight`), LoHa `hada_w1_a` …
 * (+ `hada_t1`, `hada_t2`), LoKr `lokr_w1` or `lokr_w1_a`/`_b`, `lokr_w2` or `lokr_w2_a`/`_b`
 * (+ `lokr_t2`), full `diff` (+ `diff_b`), and for all of them `alpha`, `scale` and DoRA's
 * `dora_scale`. The scale follows A1111's calc_scale: `scale` if given, else alpha / dim where dim
 * is the decomposition's rank (LoHa: w1_b's rows; LoKr: w2_b's, else w1_b's), else 1.
 */
import { shapeText } from "../weights/key-maps/tensor-mapping.js";
import { type FactorPair, LoraFileError, type LoraModule, type LoraTensor } from "./lora-module.js";
import { loraModuleFromPair } from "./lora-pair.js";
import type { LoraTarget } from "./lora-targets.js";
import { deltaShape, doraAxis } from "./module-delta.js";

export const LORA_PARTS = ["lora_down.weight", "lora_up.weight", "lora_mid.weight"];
const LOHA_PARTS = ["hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2"];
const LOKR_PARTS = ["lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2"];
const FULL_PARTS = ["diff", "diff_b"];
const COMMON_PARTS = ["alpha", "scale", "dora_scale"];

export const MODULE_PARTS: ReadonlySet<string> = new Set([
  ...LORA_PARTS,
  ...LOHA_PARTS,
  ...LOKR_PARTS,
  ...FULL_PARTS,
  ...COMMON_PARTS,
]);

/** Parts of LyCORIS/kohya networks sdlite does not apply, with what they are. */
export const UNSUPPORTED_PARTS: readonly [RegExp, string][] = [
  [/^(?:w_norm|b_norm)$/, "LyCORIS norm layers (w_norm/b_norm) are not supported"],
  [/^(?:oft_blocks|oft_diag|rescale)$/, "LyCORIS OFT/BOFT is not supported"],
  [/^(?:a1|a2|b1|b2)\.weight$/, "LyCORIS GLoRA is not supported"],
  [/^(?:weight|on_input)$/, "LyCORIS (IA)^3 is not supported"],
];

type Read = (part: string) => LoraTensor | undefined;

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

function scalar(t: LoraTensor | undefined): number | undefined {
  return t === undefined ? undefined : t.data[0];
}

/** A1111's calc_scale. */
function scaleOf(read: Read, dim: number | undefined): { scale: number; alpha?: number } {
  const alpha = scalar(read("alpha"));
  const explicit = scalar(read("scale"));
  if (explicit !== undefined) return { scale: explicit, alpha };
  return { scale: alpha !== undefined && dim !== undefined ? alpha / dim : 1, alpha };
}

function pair(read: Read, a: string, b: string, t?: string): FactorPair | undefined {
  const [ta, tb] = [read(a), read(b)];
  if (!ta || !tb) return undefined;
  const core = t ? read(t) : undefined;
  return core ? { a: ta, b: tb, t: core } : { a: ta, b: tb };
}

/** The module's parts as one of the network types, or why they make none. */
function build(file: string, sourceName: string, target: LoraTarget, read: Read): LoraModule | string {
  const common = { component: target.component, target: target.weight, sourceName };
  const kind = target.shape.length === 4 ? ("conv" as const) : ("linear" as const);
  const [down, up, mid] = LORA_PARTS.map(read);
  if (down || up) {
    if (!down || !up) return `module "${sourceName}" has no ${down ? "lora_up" : "lora_down"} weight`;
    const [alpha, scale] = [scalar(read("alpha")), scalar(read("scale"))];
    return loraModuleFromPair(file, { sourceName, target, down, up, alpha, scale, ...(mid ? { mid } : {}) });
  }
  if (LOHA_PARTS.some((p) => read(p))) {
    const w1 = pair(read, "hada_w1_a", "hada_w1_b", "hada_t1");
    const w2 = pair(read, "hada_w2_a", "hada_w2_b", "hada_t2");
    if (!w1 || !w2) return `LoHa module "${sourceName}" lacks one of hada_w1_a/_b, hada_w2_a/_b`;
    return { ...common, type: "loha", kind, w1, w2, rank: w1.b.shape[0], ...scaleOf(read, w1.b.shape[0]) };
  }
  if (LOKR_PARTS.some((p) => read(p))) {
    const w1 = read("lokr_w1") ?? pair(read, "lokr_w1_a", "lokr_w1_b");
    const w2 = read("lokr_w2") ?? pair(read, "lokr_w2_a", "lokr_w2_b", "lokr_t2");
    if (!w1 || !w2) return `LoKr module "${sourceName}" lacks lokr_w1 (or _a/_b) or lokr_w2 (or _a/_b)`;
    // A1111: dim from w1_b, then from w2_b when it has one; no decomposition, no rescaling
    const dim = ("b" in w2 ? w2.b.shape[0] : undefined) ?? ("b" in w1 ? w1.b.shape[0] : undefined);
    return { ...common, type: "lokr", kind, w1, w2, ...(dim ? { rank: dim } : {}), ...scaleOf(read, dim) };
  }
  const diff = read("diff");
  if (diff) {
    const bias = read("diff_b");
    const biasTarget = target.weight.replace(/\.weight$/, ".bias");
    if (bias && bias.data.length !== target.shape[0]) {
      throw new LoraFileError(
        file,
        `module "${sourceName}": diff_b ${shapeText(bias.shape)} does not fit ${shapeText(target.shape)}`,
      );
    }
    return {
      ...common,
      type: "full",
      kind,
      diff,
      ...scaleOf(read, undefined),
      ...(bias ? { biasDiff: { target: biasTarget, data: bias.data } } : {}),
    };
  }
  return `module "${sourceName}" has no LoRA/LoHa/LoKr/full weights`;
}

/**
 * The module the parts make on `target`, with DoRA when `dora_scale` is there; a string says why
 * the parts are incomplete. Throws LoraFileError when they do not fit the target's shape.
 */
export function moduleFromParts(
  file: string,
  sourceName: string,
  target: LoraTarget,
  read: Read,
): LoraModule | string {
  const m = build(file, sourceName, target, read);
  if (typeof m === "string") return m;
  const [out, fanIn] = deltaShape(m);
  const t = target.shape;
  if (out !== t[0] || fanIn !== product(t.slice(1))) {
    throw new LoraFileError(
      file,
      `${m.type} module "${sourceName}" makes a [${out}, ${fanIn}] change, which does not fit ${target.component} ` +
        `weight "${target.weight}" ${shapeText(t)} (a network for another model size or architecture?)`,
    );
  }
  const dora = read("dora_scale");
  if (!dora) return m;
  const axis = doraAxis(dora, t);
  if (axis !== "out" && axis !== "in") throw new LoraFileError(file, `module "${sourceName}": ${axis}`);
  return { ...m, doraScale: dora };
}
