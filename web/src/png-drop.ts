/**
 * Drop a PNG anywhere on the page: its `parameters` text is read through POST /sdapi/v1/png-info
 * (or in the page, in "This device" mode: `reader` decides) and handed on to fill the form
 * (A1111's "PNG Info" → "Send to txt2img" in one gesture).
 */
import type { A1111Client } from "./api.js";
import { byId } from "./dom.js";
import { readFileAsDataUrl, stripDataUrl } from "./image-data.js";

function carriesFiles(e: DragEvent): boolean {
  return Array.from(e.dataTransfer?.types ?? []).includes("Files");
}

/** What reads a PNG's parameters: the server's /png-info, or the page itself. */
export type PngInfoReader = Pick<A1111Client, "pngInfo">;

export function installPngDrop(
  api: PngInfoReader,
  events: {
    onParameters(infotext: string, fileName: string): void;
    /** Model files (.safetensors, .ckpt, …) dropped anywhere: never read here (they may be gigabytes). */
    onModelFiles(files: File[]): void;
    onMessage(text: string): void;
    onError(err: unknown): void;
  },
): void {
  const overlay = byId("drop-overlay", HTMLDivElement);
  // dragenter/dragleave fire for every child element crossed; count them to know when we really left
  let depth = 0;
  const hide = () => {
    depth = 0;
    overlay.hidden = true;
  };
  window.addEventListener("dragenter", (e) => {
    if (!carriesFiles(e)) return;
    depth++;
    overlay.hidden = false;
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) overlay.hidden = true;
  });
  window.addEventListener("dragover", (e) => {
    if (carriesFiles(e)) e.preventDefault(); // allow the drop
  });
  window.addEventListener("drop", (e) => {
    hide();
    const files = [...(e.dataTransfer?.files ?? [])];
    const file = files[0];
    if (!file) return;
    e.preventDefault(); // never navigate away to the dropped file
    const models = files.filter((f) => /\.(safetensors|ckpt|pt|pth|bin|sdlite\.json)$/i.test(f.name));
    if (models.length > 0) events.onModelFiles(models);
    else void readParameters(file);
  });
  // drops on the init-image zone stop propagation, so clear the overlay on the capture phase too
  window.addEventListener("drop", hide, { capture: true });

  async function readParameters(file: File): Promise<void> {
    try {
      if (file.type && !file.type.startsWith("image/")) throw new Error(`${file.name} is not an image`);
      const answer = await api.pngInfo(stripDataUrl(await readFileAsDataUrl(file)));
      const infotext = typeof answer.info === "string" ? answer.info : "";
      if (!infotext.trim()) events.onMessage(`${file.name} has no generation parameters`);
      else events.onParameters(infotext, file.name);
    } catch (err) {
      events.onError(err);
    }
  }
}
