/**
 * A tiny stand-in for an AUTOMATIC1111 API server (node:http, canned data) for the web UI tests:
 * serves the built UI and answers the endpoints the UI uses with A1111's shapes. Generation takes
 * `stepMs` per step so progress polling and interrupt can be watched; images are gradients with
 * an A1111 infotext. The real `sdlite serve` replaces it in the tests once it exists.
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";
import { formatInfotext } from "../../src/image/infotext.js";
import { encodePng, readPngText } from "../../src/image/png.js";

export interface MockA1111 {
  readonly url: string;
  /** Every API request received, in order, JSON bodies parsed. */
  readonly requests: { method: string; path: string; body: unknown }[];
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
};

function gradientPng(width: number, height: number, seed: number, text: Record<string, string> = {}): string {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 255) / width;
      data[i + 1] = (y * 255) / height;
      data[i + 2] = (seed * 37) % 256;
    }
  }
  return Buffer.from(encodePng({ width, height, channels: 3, data }, text)).toString("base64");
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : undefined;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startMockA1111(options: { webDir: string; stepMs?: number }): Promise<MockA1111> {
  const stepMs = options.stepMs ?? 20;
  const requests: MockA1111["requests"] = [];
  const state = { running: false, interrupted: false, step: 0, steps: 0, preview: null as string | null };
  let model = "tiny-a.safetensors [0123456789]";

  // biome-ignore lint/suspicious/noExplicitAny: request bodies are free-form JSON
  async function generate(body: any, img2img: boolean) {
    const width = body.width ?? 512;
    const height = body.height ?? 512;
    const count = (body.n_iter ?? 1) * (body.batch_size ?? 1);
    const seed = body.seed === -1 || body.seed === undefined ? 1234 : body.seed;
    Object.assign(state, { running: true, interrupted: false, step: 0, steps: body.steps, preview: null });
    for (let s = 1; s <= body.steps && !state.interrupted; s++) {
      await sleep(stepMs);
      state.step = s;
      state.preview = gradientPng(Math.max(8, width / 8), Math.max(8, height / 8), s);
    }
    state.running = false;
    const seeds = Array.from({ length: count }, (_, i) => seed + i);
    const infotexts = seeds.map((s) =>
      formatInfotext({
        prompt: body.prompt,
        negativePrompt: body.negative_prompt,
        steps: body.steps,
        sampler: body.sampler_name,
        cfgScale: body.cfg_scale,
        seed: s,
        width,
        height,
        model: model.split(" ")[0].replace(/\.safetensors$/, ""),
        ...(img2img ? { denoisingStrength: body.denoising_strength } : {}),
      }),
    );
    return {
      images: seeds.map((s, i) => gradientPng(width, height, s, { parameters: infotexts[i] })),
      parameters: body,
      info: JSON.stringify({ seed, all_seeds: seeds, infotexts, index_of_first_image: 0 }),
    };
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    try {
      if (!path.startsWith("/sdapi/v1/")) {
        const file = normalize(join(options.webDir, path === "/" ? "index.html" : path));
        if (!file.startsWith(options.webDir)) return sendJson(res, 403, { detail: "forbidden" });
        try {
          const bytes = readFileSync(file);
          res.writeHead(200, { "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream" });
          return res.end(bytes);
        } catch {
          return sendJson(res, 404, { detail: "Not Found" });
        }
      }
      const body = req.method === "POST" ? await readJson(req) : undefined;
      requests.push({ method: req.method ?? "GET", path, body });
      // biome-ignore lint/suspicious/noExplicitAny: request bodies are free-form JSON
      const b = body as any;
      switch (`${req.method} ${path.slice("/sdapi/v1/".length)}`) {
        case "POST txt2img":
          return sendJson(res, 200, await generate(b, false));
        case "POST img2img":
          return sendJson(res, 200, await generate(b, true));
        case "GET progress":
          return sendJson(res, 200, {
            progress: state.running && state.steps ? state.step / state.steps : 0,
            eta_relative: state.running ? ((state.steps - state.step) * stepMs) / 1000 : 0,
            state: {
              skipped: false,
              interrupted: state.interrupted,
              job: state.running ? "txt2img" : "",
              job_count: state.running ? 1 : 0,
              job_no: 0,
              sampling_step: state.step,
              sampling_steps: state.steps,
            },
            current_image: state.running ? state.preview : null,
            textinfo: state.running ? null : "Waiting...",
          });
        case "POST interrupt":
          state.interrupted = true;
          return sendJson(res, 200, {});
        case "GET samplers":
          return sendJson(res, 200, [
            { name: "Euler a", aliases: ["k_euler_a"], options: {} },
            { name: "Euler", aliases: ["k_euler"], options: {} },
            { name: "DPM++ 2M", aliases: ["k_dpmpp_2m"], options: {} },
            { name: "DPM++ 2M Karras", aliases: ["k_dpmpp_2m_ka"], options: {} },
            { name: "DDIM", aliases: [], options: {} },
          ]);
        case "GET sd-models":
          return sendJson(res, 200, [
            { title: "tiny-a.safetensors [0123456789]", model_name: "tiny-a", hash: "0123456789" },
            { title: "tiny-b.safetensors [abcdefabcd]", model_name: "tiny-b", hash: "abcdefabcd" },
          ]);
        case "GET loras":
          return sendJson(res, 200, [
            { name: "detail-tweaker", alias: "detail", path: "/loras/detail-tweaker" },
          ]);
        case "GET options":
          return sendJson(res, 200, { sd_model_checkpoint: model });
        case "POST options":
          if (typeof b?.sd_model_checkpoint === "string") model = b.sd_model_checkpoint;
          return sendJson(res, 200, null);
        case "POST png-info": {
          const bytes = Buffer.from(String(b.image).replace(/^data:[^,]*,/, ""), "base64");
          const text = readPngText(new Uint8Array(bytes));
          return sendJson(res, 200, { info: text.parameters ?? "", items: text, parameters: {} });
        }
        default:
          return sendJson(res, 404, { detail: "Not Found" });
      }
    } catch (err) {
      return sendJson(res, 500, { error: "Error", detail: (err as Error).message });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
