/**
 * POST /sdapi/v1/png-info: an image's generation parameters as A1111 returns them
 * (api.py pnginfoapi): `info` the raw infotext, `items` the other text chunks, `parameters`
 * infotext_utils.parse_generation_parameters' dictionary — "Prompt", "Negative prompt", each
 * `Key: value` as text, and "Size" split into "Size-1" / "Size-2".
 */
import { parseInfotext } from "../image/infotext.js";
import { decodeInputImage } from "./base64-image.js";

export interface PngInfoResponse {
  info: string;
  items: Record<string, string>;
  parameters: Record<string, string>;
}

export function pngInfo(bytes: Uint8Array): PngInfoResponse {
  const { text } = decodeInputImage(bytes, "image");
  const { parameters: info = "", ...items } = text;
  if (info === "") return { info: "", items, parameters: {} };
  const parsed = parseInfotext(info);
  const parameters: Record<string, string> = {
    Prompt: parsed.prompt,
    "Negative prompt": parsed.negativePrompt,
  };
  for (const [key, value] of Object.entries(parsed.parameters)) {
    const size = /^(\d+)x(\d+)$/.exec(String(value));
    if (size) {
      parameters[`${key}-1`] = size[1];
      parameters[`${key}-2`] = size[2];
    } else parameters[key] = String(value);
  }
  return { info, items, parameters };
}
