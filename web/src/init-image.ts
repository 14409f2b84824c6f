/**
 * The img2img / inpainting panel: an uploaded (or sent-from-gallery) init image with the mask
 * brush over it. With an image the UI calls /img2img; with paint on it, the paint goes as `mask`
 * with A1111's inpainting fields; with outpainting pixels, the image goes on its larger canvas.
 */
import { outpaintCanvas } from "../../src/image/outpaint-canvas.js";
import { byId } from "./dom.js";
import { imageRgb, imageToBase64Png, loadImage, pixelsToBase64Png, readFileAsDataUrl } from "./image-data.js";
import { type InpaintFields, InpaintOptions } from "./inpaint-options.js";
import { MaskPainter } from "./mask-painter.js";

export interface Img2ImgFields extends Partial<InpaintFields> {
  init_images: string[];
  mask?: string;
  /** Outpainting: the canvas's size, which replaces the form's. */
  width?: number;
  height?: number;
}

/** Small images are shown larger (room to paint), big ones fit the column and 60% of the screen height. */
export function displayWidth(width: number, height: number): string {
  return `min(100%, ${Math.max(width, 320)}px, calc(60vh * ${width / height}))`;
}

export class InitImagePanel {
  private readonly details = byId("img2img", HTMLDetailsElement);
  private readonly fileInput = byId("init-file", HTMLInputElement);
  private readonly dropZone = byId("init-drop", HTMLLabelElement);
  private readonly stage = byId("init-stage", HTMLDivElement);
  private readonly tools = byId("mask-tools", HTMLDivElement);
  private readonly image = byId("init-image", HTMLImageElement);
  private readonly brushSize = byId("brush-size", HTMLInputElement);
  private readonly eraser = byId("eraser", HTMLInputElement);
  private readonly mode = byId("img2img-mode", HTMLSpanElement);
  private readonly painter: MaskPainter;
  private readonly options = new InpaintOptions();
  private loaded: HTMLImageElement | undefined;

  constructor(
    private readonly events: {
      /** A new image arrived: the form takes its size. */
      onImage(width: number, height: number): void;
      onError(err: unknown): void;
    },
  ) {
    this.painter = new MaskPainter(byId("mask-canvas", HTMLCanvasElement), {
      size: () => Number(this.brushSize.value) || 24,
      erasing: () => this.eraser.checked,
    });
    this.fileInput.addEventListener("change", () => {
      const file = this.fileInput.files?.[0];
      if (file) void this.setFile(file);
      this.fileInput.value = ""; // choosing the same file again still fires change
    });
    for (const target of [this.dropZone, this.stage] as HTMLElement[]) {
      target.addEventListener("dragover", (e) => {
        e.preventDefault();
        e.stopPropagation(); // an image dropped here is an init image, not a PNG to read parameters from
        target.classList.add("dragging");
      });
      target.addEventListener("dragleave", () => target.classList.remove("dragging"));
      target.addEventListener("drop", (e) => {
        e.preventDefault();
        e.stopPropagation();
        target.classList.remove("dragging");
        const file = e.dataTransfer?.files[0];
        if (file) void this.setFile(file);
      });
    }
    byId("mask-clear", HTMLButtonElement).addEventListener("click", () => this.painter.clear());
    byId("init-remove", HTMLButtonElement).addEventListener("click", () => this.remove());
    this.show();
  }

  hasImage(): boolean {
    return this.loaded !== undefined;
  }

  async setFile(file: File): Promise<void> {
    try {
      await this.setImage(await readFileAsDataUrl(file));
    } catch (err) {
      this.events.onError(err);
    }
  }

  async setImage(src: string): Promise<void> {
    const img = await loadImage(src);
    this.loaded = img;
    this.image.src = src;
    this.painter.reset(img.naturalWidth, img.naturalHeight);
    this.stage.style.width = displayWidth(img.naturalWidth, img.naturalHeight);
    this.details.open = true;
    this.show();
    this.events.onImage(img.naturalWidth, img.naturalHeight);
  }

  remove(): void {
    this.loaded = undefined;
    this.image.removeAttribute("src");
    this.painter.reset(1, 1);
    this.show();
  }

  /**
   * init_images (and mask, with A1111's inpainting fields, when something is painted), both at the
   * generation size; when outpainting, the canvas and its mask at the canvas's size.
   */
  fields(width: number, height: number): Img2ImgFields | undefined {
    if (!this.loaded) return undefined;
    const extension = this.options.outpaint();
    if (extension) return this.outpaintFields(this.loaded, extension);
    const fields: Img2ImgFields = { init_images: [imageToBase64Png(this.loaded, width, height)] };
    if (!this.painter.isEmpty()) {
      fields.mask = this.painter.toBase64Png(width, height);
      Object.assign(fields, this.options.fields());
    }
    return fields;
  }

  /** The image on its outpainting canvas, the mask over the new area (plus any painted strokes). */
  private outpaintFields(
    loaded: HTMLImageElement,
    extension: ReturnType<InpaintOptions["outpaint"]> & {},
  ): Img2ImgFields {
    const inpaint = this.options.fields();
    const image = imageRgb(loaded);
    const canvas = outpaintCanvas(image, extension, inpaint.mask_blur, inpaint.mask_blur);
    const { width, height } = canvas.image;
    const mask = canvas.mask.data.slice();
    if (!this.painter.isEmpty()) {
      const painted = this.painter.toGray(image.width, image.height);
      const { left, up } = canvas.extension;
      for (let y = 0; y < image.height; y++) {
        for (let x = 0; x < image.width; x++) {
          const i = (y + up) * width + x + left;
          mask[i] = Math.max(mask[i], painted[y * image.width + x]);
        }
      }
    }
    return {
      init_images: [pixelsToBase64Png(width, height, canvas.image.data, 3)],
      mask: pixelsToBase64Png(width, height, mask, 1),
      ...inpaint,
      inpaint_full_res: false,
      width,
      height,
    };
  }

  private show(): void {
    const has = this.loaded !== undefined;
    this.stage.hidden = !has;
    this.tools.hidden = !has;
    this.dropZone.hidden = has;
    this.options.show(has);
    this.mode.textContent = has ? "img2img — paint over the image to inpaint" : "off";
  }
}
