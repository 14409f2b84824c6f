/**
 * POST /sdapi/v1/extra-single-image's body (A1111's ExtrasSingleImageRequest) checked and turned
 * into what the upscale job needs. Everything is refused before the job is queued, with the field
 * named: an unknown upscaler (with the list), factors out of A1111's ranges, face restoration
 * (not part of sdlite), outputs too large to hold.
 */
import { toRgb } from "../image/color.js";
import type { RgbImage } from "../image/types.js";
import type { ExtrasResize } from "../upscale/extras-upscale.js";
import { checkedUpscaleTarget } from "../upscale/upscale-by.js";
import type { UpscalerCatalog, UpscalerEntry } from "../upscale/upscaler-catalog.js";
import { decodeBase64Image } from "./base64-image.js";
import { invalidRequest } from "./http-error.js";

export interface ExtrasRequest {
  readonly image: RgbImage;
  /** The input PNG's text chunks, kept in the output. */
  readonly text: Readonly<Record<string, string>>;
  readonly resize: ExtrasResize;
  /** Undefined: upscaler_1 is "None" (A1111 then returns the image as it is). */
  readonly upscaler?: UpscalerEntry;
  readonly second?: { readonly upscaler: UpscalerEntry; readonly visibility: number };
}

type Body = Readonly<Record<string, unknown>>;

function numberField(body: Body, key: string, fallback: number, min: number, max: number): number {
  const value = body[key] ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw invalidRequest(`${key} must be a number from ${min} to ${max}, got ${JSON.stringify(body[key])}`);
  }
  return value;
}

function integerField(body: Body, key: string, fallback: number, min: number, max: number): number {
  const value = numberField(body, key, fallback, min, max);
  if (!Number.isInteger(value)) throw invalidRequest(`${key} must be an integer, got ${value}`);
  return value;
}

function upscalerField(body: Body, key: string, catalog: UpscalerCatalog): UpscalerEntry | undefined {
  const value = body[key] ?? "None";
  if (typeof value !== "string")
    throw invalidRequest(`${key} must be an upscaler name (see /sdapi/v1/upscalers)`);
  if (value === "" || value.toLowerCase() === "none") return undefined;
  const entry = catalog.find(value);
  if (!entry) {
    throw invalidRequest(
      `${key}: no upscaler named ${JSON.stringify(value)}; available: ${catalog.names().join(", ")}`,
    );
  }
  if (entry.problem) throw invalidRequest(`${key}: ${entry.problem}`);
  return entry;
}

export function parseExtrasRequest(body: Body, catalog: UpscalerCatalog): ExtrasRequest {
  for (const key of ["gfpgan_visibility", "codeformer_visibility"]) {
    if (numberField(body, key, 0, 0, 1) > 0) {
      throw invalidRequest(`${key}: face restoration (GFPGAN, CodeFormer) is not part of sdlite; send 0`);
    }
  }
  const mode = body.resize_mode ?? 0;
  if (mode !== 0 && mode !== 1) {
    throw invalidRequest(
      `resize_mode must be 0 (upscale by upscaling_resize) or 1 (upscale to width x height), got ${JSON.stringify(mode)}`,
    );
  }
  const resize: ExtrasResize =
    mode === 0
      ? { mode: "by", scale: numberField(body, "upscaling_resize", 2, 1, 8) }
      : {
          mode: "to",
          width: integerField(body, "upscaling_resize_w", 512, 1, 8192),
          height: integerField(body, "upscaling_resize_h", 512, 1, 8192),
          crop:
            body.upscaling_crop === undefined || body.upscaling_crop === null
              ? true
              : body.upscaling_crop === true,
        };
  const upscaler = upscalerField(body, "upscaler_1", catalog);
  const visibility = numberField(body, "extras_upscaler_2_visibility", 0, 0, 1);
  const secondEntry = upscalerField(body, "upscaler_2", catalog);
  if (body.image === undefined || body.image === null || body.image === "") {
    throw invalidRequest("image is required: the image to upscale, as base64 (PNG or JPEG)");
  }
  const decoded = decodeBase64Image(body.image, "image");
  const image = toRgb(decoded.pixels);
  const scale =
    resize.mode === "by" ? resize.scale : Math.max(resize.width / image.width, resize.height / image.height);
  if (upscaler) {
    try {
      checkedUpscaleTarget(image.width, image.height, scale);
    } catch (err) {
      throw invalidRequest(`image ${image.width}x${image.height}: ${(err as Error).message}`);
    }
  }
  return {
    image,
    text: decoded.text,
    resize,
    upscaler,
    ...(secondEntry && visibility > 0 ? { second: { upscaler: secondEntry, visibility } } : {}),
  };
}

/** Most images one extra-batch-images request may carry. */
export const MAX_BATCH_IMAGES = 64;

/**
 * POST /sdapi/v1/extra-batch-images's body (A1111's ExtrasBatchImagesRequest): the single-image
 * fields once, and `imageList`, a list of {data: base64, name}; each image checked as
 * extra-single-image checks its one.
 */
export function parseExtrasBatchRequest(body: Body, catalog: UpscalerCatalog): ExtrasRequest[] {
  const list = body.imageList;
  if (!Array.isArray(list) || list.length === 0) {
    throw invalidRequest("imageList is required: a list of {data: base64 image, name}");
  }
  if (list.length > MAX_BATCH_IMAGES) {
    throw invalidRequest(
      `imageList has ${list.length} images; this server upscales at most ${MAX_BATCH_IMAGES} per request`,
    );
  }
  return list.map((item, i) => {
    if (item === null || typeof item !== "object" || Array.isArray(item) || typeof item.data !== "string") {
      throw invalidRequest(`imageList[${i}] must be an object {data: base64 image, name}`);
    }
    try {
      return parseExtrasRequest({ ...body, image: item.data }, catalog);
    } catch (err) {
      // name the image the field belongs to
      throw invalidRequest(
        `imageList[${i}]${typeof item.name === "string" && item.name ? ` (${item.name})` : ""}: ${(err as Error).message}`,
      );
    }
  });
}
