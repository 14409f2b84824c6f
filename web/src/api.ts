/**
 * The AUTOMATIC1111 HTTP API as the UI uses it. Only these endpoints, with A1111's own shapes, so
 * the page works against `sdlite serve` and against a real AUTOMATIC1111 (`--api`) alike; the one
 * sdlite-only endpoint (the last profile) is optional, and the page hides what needs it.
 */
import type { ApiKeyProvider } from "./api-key.js";

export interface Txt2ImgRequest {
  prompt: string;
  negative_prompt: string;
  /** -1 = random. */
  seed: number;
  sampler_name: string;
  /** A1111 ≥ 1.9 "Schedule type" label (e.g. "Karras"); absent for servers without /schedulers. */
  scheduler?: string;
  steps: number;
  cfg_scale: number;
  width: number;
  height: number;
  batch_size: number;
  n_iter: number;
}

/** A1111's hires-fix fields of a txt2img body. */
export interface HiresFields {
  enable_hr: true;
  hr_upscaler: string;
  hr_scale: number;
  hr_second_pass_steps: number;
  hr_resize_x: number;
  hr_resize_y: number;
  denoising_strength: number;
}

export interface UpscalerItem {
  name: string;
}

export interface Img2ImgRequest extends Txt2ImgRequest {
  /** Base64 PNGs (no data: prefix). */
  init_images: string[];
  /** Base64 PNG, white = repaint. */
  mask?: string;
  denoising_strength: number;
  /** A1111's inpainting fields, sent with a mask: Gaussian blur sigma in pixels. */
  mask_blur?: number;
  /** Masked content: 0 fill, 1 original, 2 latent noise, 3 latent nothing. */
  inpainting_fill?: number;
  /** "Only masked": the masked area's box (plus the padding) at width × height, pasted back. */
  inpaint_full_res?: boolean;
  inpaint_full_res_padding?: number;
}

export interface GenerationResponse {
  /** Base64 PNGs. */
  images: string[];
  parameters: Record<string, unknown>;
  /** JSON text; see GenerationInfo. */
  info: string;
}

/** The parts of the `info` JSON the UI reads. */
export interface GenerationInfo {
  seed?: number;
  all_seeds?: number[];
  infotexts?: string[];
  /** 1 when A1111 put a grid image first. */
  index_of_first_image?: number;
  interrupted?: boolean;
  /** sdlite only, per image: the denoising steps it ran when it was stopped early, else null. */
  sdlite_stopped_at?: ({ step: number; of: number } | null)[];
}

export interface ProgressResponse {
  /** 0..1 */
  progress: number;
  eta_relative: number;
  state: {
    interrupted?: boolean;
    job?: string;
    job_count?: number;
    job_no?: number;
    sampling_step?: number;
    sampling_steps?: number;
  };
  /** Base64 PNG preview, or null when there is none yet. */
  current_image: string | null;
  textinfo: string | null;
}

export interface SamplerItem {
  name: string;
  aliases: string[];
}

/** A1111 ≥ 1.9 /schedulers entry: `label` is what the UI shows and sends. */
export interface SchedulerItem {
  name: string;
  label: string;
  aliases?: string[] | null;
}

export interface SdModelItem {
  title: string;
  model_name: string;
  hash?: string | null;
  filename?: string;
}

export interface LoraItem {
  name: string;
  alias?: string;
  path?: string;
}

export interface PngInfoResponse {
  /** The raw `parameters` text (A1111 infotext), "" when the image has none. */
  info: string;
  items?: Record<string, unknown>;
  parameters?: Record<string, unknown>;
}

/** A non-2xx answer, with the server's own explanation when it gave one. */
export class ApiError extends Error {
  /** `status` 0: no answer at all. */
  constructor(
    readonly status: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ApiError";
  }
}

/**
 * What the page says when the server cannot be reached at all (the browser's own "Failed to fetch"
 * / "NetworkError" tells the user nothing).
 */
export const UNREACHABLE_MESSAGE =
  "Cannot reach the sdlite server. Is `sdlite serve` still running? (Check the terminal it runs in, then try again.)";

/** Messages for statuses whose body, if any, explains little to a user of the page. */
function statusMessage(status: number, detail: string): string {
  if (status === 403) return `The server refused this request: ${detail}`;
  if (status === 413) return `The request is too large for the server: ${detail}`;
  if (status === 429) return `The server is busy with other jobs: ${detail}`;
  if (status >= 500) return `The server failed: ${detail}`;
  return detail;
}

/** A1111 errors are `{error, detail, body, errors}`; FastAPI validation puts a list in `detail`. */
function errorMessage(status: number, body: unknown, fallback: string): string {
  if (body && typeof body === "object") {
    const b = body as Record<string, unknown>;
    for (const key of ["detail", "errors", "error", "message"]) {
      const v = b[key];
      if (typeof v === "string" && v) return v;
      if (Array.isArray(v) && v.length > 0) {
        return v
          .map((e) => (typeof e === "object" && e && "msg" in e ? String(e.msg) : String(e)))
          .join("; ");
      }
    }
  }
  return `HTTP ${status}${fallback ? `: ${fallback}` : ""}`;
}

export class A1111Client {
  /** `apiKey`: for a server that wants one (sdlite's --api-key); without it a 401 is final. */
  constructor(
    private readonly baseUrl = "",
    private readonly apiKey?: ApiKeyProvider,
  ) {}

  private async request<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const text = await this.fetchText(method, `/sdapi/v1/${path}`, body);
    try {
      return (text ? JSON.parse(text) : undefined) as T;
    } catch {
      return undefined as T;
    }
  }

  /** The body of a 2xx answer as text; anything else an ApiError with the server's explanation. */
  private async fetchText(method: "GET" | "POST", path: string, body?: unknown): Promise<string> {
    let key = this.apiKey?.key();
    let response: Response;
    for (;;) {
      const headers: Record<string, string> = {};
      if (body !== undefined) headers["content-type"] = "application/json";
      if (key !== undefined) headers["x-api-key"] = key;
      try {
        response = await fetch(`${this.baseUrl}${path}`, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (err) {
        // fetch rejects only when no answer came (server gone, connection refused or reset)
        throw new ApiError(0, UNREACHABLE_MESSAGE, { cause: err });
      }
      const wantsKey = /^Bearer\b/i.test(response.headers.get("www-authenticate") ?? "");
      if (response.status !== 401 || !wantsKey || !this.apiKey) break;
      const next = await this.apiKey.ask(key);
      if (next === undefined) break; // the user gave no key: report the 401
      await response.body?.cancel();
      key = next;
    }
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      throw new ApiError(0, UNREACHABLE_MESSAGE, { cause: err });
    }
    if (!response.ok) {
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      const detail = errorMessage(response.status, parsed, text.slice(0, 200));
      throw new ApiError(response.status, statusMessage(response.status, detail));
    }
    return text;
  }

  txt2img(body: Txt2ImgRequest | (Txt2ImgRequest & HiresFields)): Promise<GenerationResponse> {
    return this.request("POST", "txt2img", body);
  }

  img2img(body: Img2ImgRequest): Promise<GenerationResponse> {
    return this.request("POST", "img2img", body);
  }

  progress(): Promise<ProgressResponse> {
    return this.request("GET", "progress");
  }

  interrupt(): Promise<unknown> {
    return this.request("POST", "interrupt");
  }

  /** Ends the image being made; a batch goes on with the next one. */
  skip(): Promise<unknown> {
    return this.request("POST", "skip");
  }

  samplers(): Promise<SamplerItem[]> {
    return this.request("GET", "samplers");
  }

  schedulers(): Promise<SchedulerItem[]> {
    return this.request("GET", "schedulers");
  }

  /** Image upscalers: None, Lanczos, Nearest and the server's models. */
  upscalers(): Promise<UpscalerItem[]> {
    return this.request("GET", "upscalers");
  }

  /** A1111's Latent hires upscalers ("Latent", "Latent (nearest)", …). */
  latentUpscaleModes(): Promise<UpscalerItem[]> {
    return this.request("GET", "latent-upscale-modes");
  }

  sdModels(): Promise<SdModelItem[]> {
    return this.request("GET", "sd-models");
  }

  loras(): Promise<LoraItem[]> {
    return this.request("GET", "loras");
  }

  options(): Promise<Record<string, unknown>> {
    return this.request("GET", "options");
  }

  setOptions(options: Record<string, unknown>): Promise<unknown> {
    return this.request("POST", "options", options);
  }

  pngInfo(imageBase64: string): Promise<PngInfoResponse> {
    return this.request("POST", "png-info", { image: imageBase64 });
  }

  /** sdlite only: the last `sdlite profile` report (JSON text) or one of its SVG charts. */
  sdliteProfile(file: "" | "/stages.svg" | "/roofline.svg"): Promise<string> {
    return this.fetchText("GET", `/sdlite/v1/profile${file}`);
  }
}

/** Parses a response's `info` JSON text; a server that sent none gives an empty object. */
export function parseGenerationInfo(info: unknown): GenerationInfo {
  if (typeof info === "object" && info !== null) return info as GenerationInfo;
  if (typeof info !== "string" || !info) return {};
  try {
    const parsed: unknown = JSON.parse(info);
    return typeof parsed === "object" && parsed !== null ? (parsed as GenerationInfo) : {};
  } catch {
    return {};
  }
}
