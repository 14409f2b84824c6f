/**
 * The ESRGAN-family networks sdlite runs, described by what the tensor shapes tell: BasicSR's
 * RRDBNet (ESRGAN, RealESRGAN_x4plus, _x4plus_anime_6B, _x2plus) and SRVGGNetCompact
 * (realesr-general-x4v3, realesr-animevideov3). Weights arrive here under BasicSR's key names
 * (esrgan-keys.ts maps the old ESRGAN layout to them).
 */
import type { WeightSource } from "../weights/weight-source.js";

export interface RrdbArchitecture {
  readonly kind: "rrdb";
  /** Output size / input size: 2^upsamples / unshuffle. */
  readonly scale: number;
  /** Image channels in and out (3 for RGB models). */
  readonly imageChannels: number;
  readonly outChannels: number;
  /** RRDB blocks (23 for x4plus, 6 for the anime model). */
  readonly blocks: number;
  readonly features: number;
  readonly growth: number;
  /** Nearest ×2 upsample + conv stages (conv_up1, conv_up2, …). */
  readonly upsamples: number;
  /** pixel_unshuffle factor applied to the input first (2 for x2plus, 4 for x1 models, else 1). */
  readonly unshuffle: number;
}

export interface CompactArchitecture {
  readonly kind: "compact";
  readonly scale: number;
  readonly imageChannels: number;
  readonly outChannels: number;
  readonly features: number;
  /** Hidden 3x3 convs between the first and the last (32 for general-x4v3, 16 for animevideov3). */
  readonly convs: number;
}

export type UpscalerArchitecture = RrdbArchitecture | CompactArchitecture;

export class UpscalerModelError extends Error {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
    this.name = "UpscalerModelError";
  }
}

/** A short description for logs and errors ("RRDBNet x4, 23 blocks, 64 features, grow 32"). */
export function describeArchitecture(a: UpscalerArchitecture): string {
  if (a.kind === "rrdb") {
    return `RRDBNet x${a.scale}, ${a.blocks} blocks, ${a.features} features, grow ${a.growth}`;
  }
  return `SRVGGNetCompact x${a.scale}, ${a.convs} convs, ${a.features} features`;
}

/**
 * How far (in input pixels, per side) an output pixel can see: each 3x3 conv adds one pixel at the
 * resolution it runs at. Tiles whose padding covers this give exactly the untiled result.
 */
export function receptiveRadius(a: UpscalerArchitecture): number {
  if (a.kind === "compact") return a.convs + 2;
  // conv_first, 15 convs per RRDB (3 dense blocks × 5), conv_body: at 1/unshuffle of the input
  let radius = (2 + 15 * a.blocks) * a.unshuffle;
  // conv_up k runs after k doublings; conv_hr and conv_last at the final resolution
  let factor = 1 / a.unshuffle;
  for (let k = 1; k <= a.upsamples; k++) {
    factor *= 2;
    radius += 1 / factor + 0.5 / factor; // the conv, and nearest upsampling's half-pixel shift
  }
  radius += 2 / factor;
  return Math.ceil(radius) + a.unshuffle - 1;
}

function shape4(weights: WeightSource, key: string, path: string): readonly number[] {
  const shape = weights.shape(key);
  if (shape.length !== 4 || shape[2] !== 3 || shape[3] !== 3) {
    throw new UpscalerModelError(
      path,
      `"${key}" has shape [${shape.join(", ")}], expected a 3x3 conv weight`,
    );
  }
  return shape;
}

function countIndexed(weights: WeightSource, template: (i: number) => string, from: number): number {
  let n = 0;
  while (weights.has(template(from + n))) n++;
  return n;
}

function detectRrdb(w: WeightSource, path: string): RrdbArchitecture {
  const [features, inChannels] = shape4(w, "conv_first.weight", path);
  const blocks = countIndexed(w, (i) => `body.${i}.rdb1.conv1.weight`, 0);
  if (blocks === 0)
    throw new UpscalerModelError(path, "RRDBNet weights without body.0.rdb1.conv1 (no RRDB blocks)");
  const [growth] = shape4(w, "body.0.rdb1.conv1.weight", path);
  const upsamples = countIndexed(w, (i) => `conv_up${i}.weight`, 1);
  const [outChannels] = shape4(w, "conv_last.weight", path);
  for (const key of ["conv_body.weight", "conv_hr.weight"]) {
    if (!w.has(key)) throw new UpscalerModelError(path, `RRDBNet weights without "${key}"`);
  }
  // x2plus/x1 models see pixel-unshuffled input: 3 channels × 4 or × 16
  let unshuffle = 1;
  for (const r of [1, 2, 4]) if (inChannels === outChannels * r * r) unshuffle = r;
  if (outChannels * unshuffle * unshuffle !== inChannels) {
    throw new UpscalerModelError(
      path,
      `RRDBNet conv_first takes ${inChannels} channels and conv_last gives ${outChannels}: not an image model with pixel-unshuffle 1, 2 or 4`,
    );
  }
  const scale = 2 ** upsamples / unshuffle;
  if (!Number.isInteger(scale)) {
    throw new UpscalerModelError(
      path,
      `RRDBNet with ${upsamples} upsamples and pixel-unshuffle ${unshuffle} would shrink the image`,
    );
  }
  return {
    kind: "rrdb",
    scale,
    imageChannels: outChannels,
    outChannels,
    blocks,
    features,
    growth,
    upsamples,
    unshuffle,
  };
}

function detectCompact(w: WeightSource, path: string): CompactArchitecture {
  const convIndices: number[] = [];
  let i = 0;
  for (; w.has(`body.${i}.weight`); i++) {
    const shape = w.shape(`body.${i}.weight`);
    if (shape.length === 4) convIndices.push(i);
    else if (shape.length !== 1) {
      throw new UpscalerModelError(
        path,
        `"body.${i}.weight" has shape [${shape.join(", ")}]: neither a conv nor a PReLU`,
      );
    }
  }
  const [features, imageChannels] = shape4(w, "body.0.weight", path);
  // conv, PReLU, conv, PReLU, …, conv: PReLU slopes at every odd index (ReLU/LeakyReLU variants have none)
  const expected = convIndices.map((_, k) => 2 * k);
  if (convIndices.join() !== expected.join() || i !== 2 * convIndices.length - 1) {
    throw new UpscalerModelError(
      path,
      "SRVGGNetCompact weights whose body is not conv, PReLU, …, conv (only the PReLU variant, as in realesr-general-x4v3 and realesr-animevideov3, is supported)",
    );
  }
  const last = convIndices[convIndices.length - 1];
  const [lastOut] = shape4(w, `body.${last}.weight`, path);
  const scale = Math.round(Math.sqrt(lastOut / imageChannels));
  if (scale < 1 || scale * scale * imageChannels !== lastOut) {
    throw new UpscalerModelError(
      path,
      `SRVGGNetCompact's last conv gives ${lastOut} channels, not ${imageChannels} × scale²`,
    );
  }
  return {
    kind: "compact",
    scale,
    imageChannels,
    outChannels: imageChannels,
    features,
    convs: convIndices.length - 2,
  };
}

/** The architecture from the shapes of weights under BasicSR names; throws naming what was found. */
export function detectUpscalerArchitecture(weights: WeightSource, path: string): UpscalerArchitecture {
  if (weights.has("conv_first.weight")) return detectRrdb(weights, path);
  if (weights.has("body.0.weight") && weights.has("body.1.weight")) return detectCompact(weights, path);
  const names = weights.names();
  const sample = names
    .slice(0, 4)
    .map((n) => `"${n}"`)
    .join(", ");
  throw new UpscalerModelError(
    path,
    `not an ESRGAN-family upscaler (RRDBNet or SRVGGNetCompact): ${names.length} tensors${names.length > 0 ? `, e.g. ${sample}` : ""}`,
  );
}
