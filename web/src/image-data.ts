/** Moving images between files, base64 (what the API carries), <img> and <canvas>. */

export function pngDataUrl(base64: string): string {
  return base64.startsWith("data:") ? base64 : `data:image/png;base64,${base64}`;
}

/** "data:image/png;base64,AAAA" → "AAAA"; plain base64 passes through. */
export function stripDataUrl(dataUrl: string): string {
  const comma = dataUrl.indexOf(",");
  return dataUrl.startsWith("data:") && comma >= 0 ? dataUrl.slice(comma + 1) : dataUrl;
}

export function readFileAsDataUrl(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error("cannot read the file"));
    reader.readAsDataURL(file);
  });
}

export function base64ToBlob(base64: string, type = "image/png"): Blob {
  const binary = atob(stripDataUrl(base64));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Blob([bytes], { type });
}

export function loadImage(src: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the file is not an image this browser can read"));
    img.src = src;
  });
}

export function newCanvas(
  width: number,
  height: number,
): { canvas: HTMLCanvasElement; ctx: CanvasRenderingContext2D } {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("this browser has no 2D canvas");
  return { canvas, ctx };
}

/** Base64 PNG of a canvas (no data: prefix), as the API's image fields want. */
export function canvasToBase64Png(canvas: HTMLCanvasElement): string {
  return stripDataUrl(canvas.toDataURL("image/png"));
}

/**
 * The image stretched to width × height as base64 PNG: A1111's default "Just resize", done here so
 * the server receives the init image at the size it generates.
 */
export function imageToBase64Png(source: CanvasImageSource, width: number, height: number): string {
  const { canvas, ctx } = newCanvas(width, height);
  // transparent pixels become white, as A1111 flattens an RGBA init image
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(source, 0, 0, width, height);
  return canvasToBase64Png(canvas);
}

/** The image's own pixels as RGB bytes, transparency over white (as A1111 flattens an init image). */
export function imageRgb(source: HTMLImageElement): { width: number; height: number; data: Uint8Array } {
  const width = source.naturalWidth;
  const height = source.naturalHeight;
  const { ctx } = newCanvas(width, height);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  ctx.drawImage(source, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgba.subarray(i * 4, i * 4 + 3), i * 3);
  return { width, height, data };
}

/** RGB (3 bytes a pixel) or gray (1) bytes as a base64 PNG. */
export function pixelsToBase64Png(width: number, height: number, data: Uint8Array, channels: 1 | 3): string {
  const { canvas, ctx } = newCanvas(width, height);
  const image = ctx.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) image.data[i * 4 + c] = data[i * channels + (channels === 3 ? c : 0)];
    image.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  return canvasToBase64Png(canvas);
}
