/** Image size presets and the multiple-of-8 rule (the VAE works on 8×8 pixel blocks). */

export const SIZE_STEP = 8;
export const MIN_SIDE = 64;
export const MAX_SIDE = 2048;

export interface SizePreset {
  readonly label: string;
  readonly width: number;
  readonly height: number;
}

export const SIZE_PRESETS: readonly SizePreset[] = [
  { label: "512×512 (square)", width: 512, height: 512 },
  { label: "512×768 (portrait)", width: 512, height: 768 },
  { label: "768×512 (landscape)", width: 768, height: 512 },
];

export const CUSTOM_PRESET = "custom";

/** Nearest multiple of 8 inside [MIN_SIDE, MAX_SIDE]; NaN falls back to 512. */
export function snapSide(value: number): number {
  if (!Number.isFinite(value)) return 512;
  const snapped = Math.round(value / SIZE_STEP) * SIZE_STEP;
  return Math.min(MAX_SIDE, Math.max(MIN_SIDE, snapped));
}

/** The preset's select value for a size: "WxH" when it is one, else "custom". */
export function presetValue(width: number, height: number): string {
  const match = SIZE_PRESETS.find((p) => p.width === width && p.height === height);
  return match ? `${match.width}x${match.height}` : CUSTOM_PRESET;
}

export function parsePresetValue(value: string): { width: number; height: number } | undefined {
  const m = /^(\d+)x(\d+)$/.exec(value);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : undefined;
}
