/**
 * POST /sdapi/v1/png-info: an image's generation parameters as A1111 returns them
 * (api.py pnginfoapi): `info` the raw infotext, `items` the other text chunks, `parameters`
 * infotext_utils.parse_generation_parameters' dictionary — "Prompt", "Negative prompt", each
 * `Key: value` as text, and "Size" split into "Size-1" / "Size-2".
 *
 * A PNG's text chunks are read without decoding a pixel (PIL opens images lazily too), each
 * chunk's text capped as PIL caps it (an oversized or inflating-to-gigabytes chunk answers 413),
 * and the infotext is parsed in linear time.
 */
import { parseInfotext } from "../image/infotext.js";
import { hasPngSignature, PngFormatError, PngTextLimitError, readPngText } from "../image/png-chunks.js";
import { decodeInputImage } from "./base64-image.js";
import { HttpError, invalidRequest } from "./http-error.js";

export interface PngInfoResponse {
  info: string;
  items: Record<string, string>;
  parameters: Record<string, string>;
}

function pngText(bytes: Uint8Array): Record<string, string> {
  try {
    return readPngText(bytes);
  } catch (err) {
    if (err instanceof PngTextLimitError)
      throw new HttpError(413, `image: ${err.message}`, "PayloadTooLarge");
    if (err instanceof PngFormatError) throw invalidRequest(`image: ${err.message}`);
    throw err;
  }
}

export function pngInfo(bytes: Uint8Array): PngInfoResponse {
  const text = hasPngSignature(bytes) ? pngText(bytes) : decodeInputImage(bytes, "image").text;
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
