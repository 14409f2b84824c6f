/**
 * The inpainting and outpainting controls under the init image: A1111's masked content, mask blur,
 * "Only masked" with its padding, and outpainting (pixels and directions). They become A1111's
 * img2img fields; outpainting is done here, as A1111's "Poor man's outpainting" prepares it: the
 * image on a larger black canvas (rounded to multiples of 8) with a mask over the new area, sent as
 * an ordinary init image and mask, so a real AUTOMATIC1111 gets the same request.
 */
import type { OutpaintExtension } from "../../src/image/outpaint-canvas.js";
import { byId } from "./dom.js";

export interface InpaintFields {
  mask_blur: number;
  inpainting_fill: number;
  inpaint_full_res: boolean;
  inpaint_full_res_padding: number;
}

const SIDES = ["left", "right", "up", "down"] as const;

function count(input: HTMLInputElement, fallback: number): number {
  const v = Math.floor(Number(input.value));
  return Number.isFinite(v) && v >= 0 ? v : fallback;
}

export class InpaintOptions {
  private readonly box = byId("inpaint-options", HTMLFieldSetElement);
  private readonly fill = byId("inpainting-fill", HTMLSelectElement);
  private readonly blur = byId("mask-blur", HTMLInputElement);
  private readonly area = byId("inpaint-area", HTMLSelectElement);
  private readonly padding = byId("inpaint-padding", HTMLInputElement);
  private readonly pixels = byId("outpaint-pixels", HTMLInputElement);
  private readonly sides = SIDES.map((side) => byId(`outpaint-${side}`, HTMLInputElement));

  constructor() {
    let before = 0;
    this.pixels.addEventListener("change", () => {
      // outpainting from a black canvas needs the "fill" content; switch to it once, as a default
      const now = count(this.pixels, 0);
      if (before === 0 && now > 0 && this.fill.value === "1") this.fill.value = "0";
      before = now;
    });
  }

  show(visible: boolean): void {
    this.box.hidden = !visible;
  }

  /** A1111's fields for a request with a mask. */
  fields(): InpaintFields {
    return {
      mask_blur: count(this.blur, 4),
      inpainting_fill: Number(this.fill.value),
      inpaint_full_res: this.area.value === "masked",
      inpaint_full_res_padding: count(this.padding, 32),
    };
  }

  /** The pixels to add on each side, or undefined when not outpainting. */
  outpaint(): OutpaintExtension | undefined {
    const pixels = count(this.pixels, 0);
    const ext = { left: 0, right: 0, up: 0, down: 0 };
    SIDES.forEach((side, i) => {
      if (this.sides[i].checked) ext[side] = pixels;
    });
    return pixels > 0 && SIDES.some((s) => ext[s] > 0) ? ext : undefined;
  }
}
