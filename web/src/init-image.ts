/**
 * The img2img / inpainting panel: an uploaded (or sent-from-gallery) init image with the mask
 * brush over it. With an image the UI calls /img2img; with paint on it, the paint goes as `mask`.
 */
import { byId } from "./dom.js";
import { imageToBase64Png, loadImage, readFileAsDataUrl } from "./image-data.js";
import { MaskPainter } from "./mask-painter.js";

export interface Img2ImgFields {
  init_images: string[];
  mask?: string;
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

  /** init_images (and mask when something is painted), both at the generation size. */
  fields(width: number, height: number): Img2ImgFields | undefined {
    if (!this.loaded) return undefined;
    const fields: Img2ImgFields = { init_images: [imageToBase64Png(this.loaded, width, height)] };
    if (!this.painter.isEmpty()) fields.mask = this.painter.toBase64Png(width, height);
    return fields;
  }

  private show(): void {
    const has = this.loaded !== undefined;
    this.stage.hidden = !has;
    this.tools.hidden = !has;
    this.dropZone.hidden = has;
    this.mode.textContent = has ? "img2img — paint over the image to inpaint" : "off";
  }
}
