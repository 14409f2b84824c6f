/**
 * Turns one down/up pair found in a file into a LoraModule, checking that it fits the weight it
 * targets. The check is on the flattened [out, in·kh·kw] view the merge uses, so a linear LoRA on a
 * 1×1 conv (or the reverse, e.g. proj_in trained with use_linear_projection) is accepted, while a
 * pair for another model size fails loudly with both shapes. With LoCon's CP core (`mid`
 * [rank, rank, kh, kw]) down and up are 1×1 and the core carries the kernel.
 */
import { shapeText } from "../weights/key-maps/tensor-mapping.js";
import { LoraFileError, type LoraTensor, type LowRankModule } from "./lora-module.js";
import type { LoraTarget } from "./lora-targets.js";

export interface LoraPair {
  readonly sourceName: string;
  readonly target: LoraTarget;
  readonly down: LoraTensor;
  readonly up: LoraTensor;
  /** Absent means alpha = rank (no rescaling), as kohya and PEFT both default. */
  readonly alpha?: number;
  /** PEFT use_rslora: scale alpha / sqrt(rank) instead of alpha / rank. */
  readonly rankStabilized?: boolean;
  /** LoCon's CP core (`lora_mid`). */
  readonly mid?: LoraTensor;
  /** A file's own `scale` tensor, which A1111 takes instead of alpha / rank. */
  readonly scale?: number;
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** up [out, n], mid [n, m, kh, kw], down [m, in] on a [out, in, kh, kw] kernel. */
function fitsWithCore(up: LoraTensor, mid: LoraTensor, down: LoraTensor, t: readonly number[]): boolean {
  return (
    t.length === 4 &&
    mid.shape.length === 4 &&
    up.shape[0] === t[0] &&
    product(up.shape.slice(1)) === mid.shape[0] &&
    down.shape[0] === mid.shape[1] &&
    product(down.shape.slice(1)) === t[1] &&
    mid.shape[2] === t[2] &&
    mid.shape[3] === t[3]
  );
}

function fits(pair: LoraPair): boolean {
  const { down, up, mid } = pair;
  const target = pair.target.shape;
  if (mid) return fitsWithCore(up, mid, down, target);
  if (target.length < 2 || down.shape.length < 2 || up.shape.length < 2) return false;
  const rank = down.shape[0];
  const out = target[0];
  const fanIn = product(target.slice(1));
  if (up.shape[0] !== out || up.shape[1] !== rank || product(up.shape.slice(2)) !== 1) return false;
  if (product(down.shape.slice(1)) !== fanIn) return false;
  // a 4-D down must have the target's own kernel layout, not just the same element count
  if (down.shape.length === 4 && target.length === 4) {
    return down.shape[1] === target[1] && down.shape[2] === target[2] && down.shape[3] === target[3];
  }
  return down.shape.length === 2 || target.length === 2 || target[2] * target[3] === 1;
}

export function loraModuleFromPair(file: string, pair: LoraPair): LowRankModule {
  const { sourceName, target, down, up } = pair;
  if (!fits(pair)) {
    throw new LoraFileError(
      file,
      `module "${sourceName}" does not fit ${target.component} weight "${target.weight}" ` +
        `${shapeText(target.shape)}: lora down is ${shapeText(down.shape)}, ` +
        `${pair.mid ? `lora mid is ${shapeText(pair.mid.shape)}, ` : ""}lora up is ${shapeText(up.shape)} ` +
        "(a LoRA for another model size or architecture?)",
    );
  }
  const rank = down.shape[0];
  const alpha = pair.alpha ?? rank;
  if (!Number.isFinite(alpha)) {
    throw new LoraFileError(file, `module "${sourceName}" has a non-finite alpha (${alpha})`);
  }
  return {
    type: "lora",
    component: target.component,
    target: target.weight,
    sourceName,
    down,
    up,
    ...(pair.mid ? { mid: pair.mid } : {}),
    alpha,
    rank,
    scale: pair.scale ?? (pair.rankStabilized ? alpha / Math.sqrt(rank) : alpha / rank),
    kind: target.shape.length === 4 ? "conv" : "linear",
  };
}
