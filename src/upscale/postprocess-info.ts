/**
 * The infotext A1111's extras tab writes for an upscale ("Postprocess upscale by: 2, Postprocess
 * upscaler: R-ESRGAN 4x+"), and where it goes in the PNG: the input's text chunks (its generation
 * `parameters` among them) are kept unchanged and the infotext is added as the `postprocessing`
 * and `extras` chunks (modules/postprocessing.py: pp.image.info["postprocessing"], save_image with
 * pnginfo_section_name="extras").
 */
import { quoteInfotextValue } from "../image/infotext.js";

export type PostprocessInfo = ReadonlyArray<readonly [string, string | number]>;

export function formatPostprocessInfo(info: PostprocessInfo): string {
  return info
    .map(([k, v]) => `${k}: ${typeof v === "number" ? String(v) : quoteInfotextValue(v)}`)
    .join(", ");
}

/**
 * The output PNG's text chunks: the input's, plus the upscale infotext as `postprocessing`; a saved
 * file also gets it as `extras` (the API's returned image has only `postprocessing`, as A1111's).
 */
export function postprocessTextChunks(
  input: Readonly<Record<string, string>>,
  infotext: string,
  where: "file" | "api" = "file",
): Record<string, string> {
  if (infotext === "") return { ...input };
  return where === "file"
    ? { ...input, postprocessing: infotext, extras: infotext }
    : { ...input, postprocessing: infotext };
}

/** A1111's plaintext_to_html, which the extras API returns as html_info. */
export function infotextHtml(text: string): string {
  const escapeHtml = (s: string) =>
    s
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#x27;");
  return `<p>${text.split("\n").map(escapeHtml).join("<br>\n")}</p>`;
}
