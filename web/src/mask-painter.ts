/**
 * Inpainting mask brush: a canvas laid over the init image, at the image's own resolution. What is
 * painted (its alpha) is the mask; it is exported as A1111 wants it: white = repaint, black = keep.
 */
import { canvasToBase64Png, newCanvas } from "./image-data.js";

/** Paint colour on screen only; the exported mask is white regardless. */
const PAINT = "#ff3b6b";

export class MaskPainter {
  private readonly ctx: CanvasRenderingContext2D;
  private last: { x: number; y: number } | undefined;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly brush: { size(): number; erasing(): boolean },
  ) {
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("this browser has no 2D canvas");
    this.ctx = ctx;
    canvas.addEventListener("pointerdown", (e) => this.start(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"] as const) {
      canvas.addEventListener(type, () => {
        this.last = undefined;
      });
    }
  }

  /** A fresh, empty mask for an image of this size. */
  reset(width: number, height: number): void {
    this.canvas.width = width;
    this.canvas.height = height;
    this.clear();
  }

  clear(): void {
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
  }

  isEmpty(): boolean {
    const { data } = this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height);
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return false;
    return true;
  }

  /** The mask stretched to width × height (the generation size): black background, white strokes. */
  toBase64Png(width: number, height: number): string {
    return canvasToBase64Png(this.render(width, height));
  }

  /** The mask at width × height as gray bytes (one per pixel, white = repaint). */
  toGray(width: number, height: number): Uint8Array {
    const canvas = this.render(width, height);
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("this browser has no 2D canvas");
    const { data } = ctx.getImageData(0, 0, width, height);
    return Uint8Array.from({ length: width * height }, (_, i) => data[i * 4]);
  }

  private render(width: number, height: number): HTMLCanvasElement {
    const white = newCanvas(this.canvas.width, this.canvas.height);
    white.ctx.drawImage(this.canvas, 0, 0);
    white.ctx.globalCompositeOperation = "source-in"; // keep the strokes' alpha, make them white
    white.ctx.fillStyle = "#fff";
    white.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    const out = newCanvas(width, height);
    out.ctx.fillStyle = "#000";
    out.ctx.fillRect(0, 0, width, height);
    out.ctx.drawImage(white.canvas, 0, 0, width, height);
    return out.canvas;
  }

  /** Pointer position in canvas pixels, and how many canvas pixels one screen pixel covers. */
  private position(e: PointerEvent): { x: number; y: number; scale: number } {
    const rect = this.canvas.getBoundingClientRect();
    const scale = rect.width > 0 ? this.canvas.width / rect.width : 1;
    return { x: (e.clientX - rect.left) * scale, y: (e.clientY - rect.top) * scale, scale };
  }

  private start(e: PointerEvent): void {
    if (e.button !== 0) return;
    e.preventDefault();
    this.canvas.setPointerCapture(e.pointerId);
    const p = this.position(e);
    this.last = p;
    this.stroke(p, p, p.scale);
  }

  private move(e: PointerEvent): void {
    if (!this.last) return;
    const p = this.position(e);
    this.stroke(this.last, p, p.scale);
    this.last = p;
  }

  private stroke(from: { x: number; y: number }, to: { x: number; y: number }, scale: number): void {
    const c = this.ctx;
    c.globalCompositeOperation = this.brush.erasing() ? "destination-out" : "source-over";
    const width = this.brush.size() * scale;
    c.beginPath();
    if (from.x === to.x && from.y === to.y) {
      // a click without a drag: a round dot (zero-length strokes draw nothing everywhere)
      c.fillStyle = PAINT;
      c.arc(to.x, to.y, width / 2, 0, 2 * Math.PI);
      c.fill();
      return;
    }
    c.strokeStyle = PAINT;
    c.lineWidth = width;
    c.lineCap = "round";
    c.lineJoin = "round";
    c.moveTo(from.x, from.y);
    c.lineTo(to.x, to.y);
    c.stroke();
  }
}
