/**
 * The Hires fix section of txt2img: A1111's enable_hr and hr_* fields (upscaler, second-pass
 * steps, scale or target size, denoising strength), sent with a txt2img request when enabled, and
 * filled back from an infotext's `Hires …` entries.
 */
import type { HiresFields, UpscalerItem } from "./api.js";
import { byId, el } from "./dom.js";

/** A1111's Latent modes, for servers without /latent-upscale-modes. */
const LATENT_MODES = [
  "Latent",
  "Latent (antialiased)",
  "Latent (bicubic)",
  "Latent (bicubic antialiased)",
  "Latent (nearest)",
  "Latent (nearest-exact)",
];

function numberIn(
  input: HTMLInputElement,
  min: number,
  max: number,
  fallback: number,
  integer = false,
): number {
  const v = Number(input.value);
  if (input.value.trim() === "" || !Number.isFinite(v)) return fallback;
  const clamped = Math.min(max, Math.max(min, v));
  return integer ? Math.round(clamped) : clamped;
}

export class HiresPanel {
  private readonly enable = byId("hires-enable", HTMLInputElement);
  private readonly upscaler = byId("hires-upscaler", HTMLSelectElement);
  private readonly steps = byId("hires-steps", HTMLInputElement);
  private readonly scale = byId("hires-scale", HTMLInputElement);
  private readonly resizeX = byId("hires-resize-x", HTMLInputElement);
  private readonly resizeY = byId("hires-resize-y", HTMLInputElement);
  private readonly strength = byId("hires-strength", HTMLInputElement);
  private readonly strengthValue = byId("hires-strength-value", HTMLOutputElement);
  private readonly mode = byId("hires-mode", HTMLSpanElement);

  constructor() {
    for (const input of [this.enable, this.scale, this.resizeX, this.resizeY, this.strength]) {
      input.addEventListener("input", () => this.show());
    }
    this.setUpscalers(LATENT_MODES, []);
    this.show();
  }

  /** The Latent modes first, then the image upscalers, as A1111's picker lists them. */
  setUpscalers(latentModes: readonly string[] | undefined, upscalers: readonly UpscalerItem[]): void {
    const previous = this.upscaler.value;
    const names = [...(latentModes?.length ? latentModes : LATENT_MODES), ...upscalers.map((u) => u.name)];
    this.upscaler.replaceChildren(...names.map((n) => el("option", { value: n }, [n])));
    this.upscaler.value = names.includes(previous) ? previous : (names[0] ?? "Latent");
  }

  /** The hires fields for a txt2img body, or nothing when the section is off. */
  fields(): HiresFields | Record<string, never> {
    if (!this.enable.checked) return {};
    return {
      enable_hr: true,
      hr_upscaler: this.upscaler.value,
      hr_scale: numberIn(this.scale, 1, 4, 2),
      hr_second_pass_steps: numberIn(this.steps, 0, 150, 0, true),
      hr_resize_x: numberIn(this.resizeX, 0, 2048, 0, true),
      hr_resize_y: numberIn(this.resizeY, 0, 2048, 0, true),
      denoising_strength: numberIn(this.strength, 0.01, 1, 0.7),
    };
  }

  /** Takes an infotext's hires entries; turns the section off when it has none. */
  applyParameters(p: Record<string, string | number>): void {
    const hires = ["Hires upscale", "Hires resize", "Hires upscaler", "Hires steps"].some(
      (k) => p[k] !== undefined,
    );
    this.enable.checked = hires;
    if (hires) {
      if (p["Hires upscaler"] !== undefined) {
        const name = String(p["Hires upscaler"]);
        if (![...this.upscaler.options].some((o) => o.value === name))
          this.upscaler.append(el("option", { value: name }, [name]));
        this.upscaler.value = name;
      }
      this.steps.value = String(p["Hires steps"] ?? 0);
      const resize = /^(\d+)x(\d+)$/.exec(String(p["Hires resize"] ?? ""));
      this.resizeX.value = resize ? resize[1] : "0";
      this.resizeY.value = resize ? resize[2] : "0";
      if (p["Hires upscale"] !== undefined) this.scale.value = String(p["Hires upscale"]);
      if (p["Denoising strength"] !== undefined) this.strength.value = String(p["Denoising strength"]);
    }
    this.show();
  }

  private show(): void {
    this.strengthValue.value = numberIn(this.strength, 0.01, 1, 0.7).toFixed(2);
    const f = this.fields();
    this.mode.textContent = !("enable_hr" in f)
      ? "off"
      : f.hr_resize_x || f.hr_resize_y
        ? `to ${f.hr_resize_x}x${f.hr_resize_y}`
        : `×${f.hr_scale}`;
  }
}
