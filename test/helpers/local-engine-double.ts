/**
 * TEST DOUBLE of the in-tab engine, bundled into the page in place of web/src/local/engine-deps.ts
 * by the "This device" UI tests (buildWeb's replaceModules) — the real engine is tested on its own
 * branch. It does what the page relies on and records it in `globalThis.__sdliteDouble`:
 * - webgpuSupport(): `globalThis.__sdliteDoubleSupport` when a test set it, else a working adapter;
 * - openLocalEngine(): records the backend and checkpoint size, gets its one graph from the
 *   GraphStore or builds and puts it (so the store is exercised through the page's wiring);
 * - generate(): reports every step, honours the signal, and returns a PNG of the asked size whose
 *   colour comes from the seed, with an A1111 infotext; with TAESD files given to openLocalEngine,
 *   a grey preview PNG every `previews.every` steps (default 5).
 */
import { encodePng } from "../../src/image/png.js";
import type {
  LocalEngine,
  LocalEngineDeps,
  LocalGenerateRequest,
  LocalLoadOptions,
  WebGpuSupport,
} from "../../web/src/local/local-engine-api.js";

export const DOUBLE_GRAPH_KEY = "double/unet graph:v1";
/** The bytes of the double's "graph": 4 KiB of a pattern. */
export const DOUBLE_GRAPH_BYTES = 4096;

export interface DoubleRecord {
  opened: {
    backend: string;
    checkpointBytes: number;
    graph: "built" | "from cache" | "no store";
    /** The TAESD files' sizes. */
    taesd: number[];
    /** The final decoder asked for, when one was. */
    decoder?: string;
  }[];
  requests: (Omit<LocalGenerateRequest, "initImage" | "mask" | "loras" | "embeddings"> & {
    initImage?: [number, number];
    mask?: [number, number];
    loras?: { name: string; bytes: number; weight: number }[];
    embeddings?: { fileName: string; bytes: number }[];
  })[];
  disposed: number;
}

const scope = globalThis as typeof globalThis & {
  __sdliteDouble?: DoubleRecord;
  __sdliteDoubleSupport?: WebGpuSupport;
};
const record: DoubleRecord = { opened: [], requests: [], disposed: 0 };
scope.__sdliteDouble = record;

function graphBytes(): Uint8Array {
  const bytes = new Uint8Array(DOUBLE_GRAPH_BYTES);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

async function openLocalEngine(checkpoint: Blob, options: LocalLoadOptions): Promise<LocalEngine> {
  let graph: DoubleRecord["opened"][number]["graph"] = "no store";
  if (options.graphStore) {
    const kept = await options.graphStore.get(DOUBLE_GRAPH_KEY);
    const expected = graphBytes();
    if (kept && kept.length === expected.length && kept.every((b, i) => b === expected[i])) {
      graph = "from cache";
      options.onStatus?.("Graphs loaded from the cache", 1);
    } else {
      options.onStatus?.("Building graphs…", 0.5);
      await options.graphStore.put(DOUBLE_GRAPH_KEY, expected);
      graph = "built";
    }
  }
  const taesd = (options.taesd ?? []).map((b) => b.size);
  record.opened.push({
    backend: options.backend,
    checkpointBytes: checkpoint.size,
    graph,
    taesd,
    ...(options.decoder ? { decoder: options.decoder } : {}),
  });
  const engine: LocalEngine = {
    backend: options.backend,
    loading: { sequential: options.sequentialLoading ?? false, reason: "test double" },
    precision: options.precision ?? "fp32",
    previews: taesd.length > 0,
    async generate(request, onStep, signal, previews) {
      return (await engine.generateImages(request, onStep, signal, previews))[0];
    },
    async generateImages(request, onStep, signal, previews) {
      const { initImage, mask, loras, embeddings, ...plain } = request;
      record.requests.push({
        ...plain,
        ...(initImage ? { initImage: [initImage.width, initImage.height] as [number, number] } : {}),
        ...(mask ? { mask: [mask.width, mask.height] as [number, number] } : {}),
        ...(loras
          ? { loras: loras.map((l) => ({ name: l.name, bytes: l.file.size, weight: l.weight })) }
          : {}),
        ...(embeddings
          ? { embeddings: embeddings.map((e) => ({ fileName: e.fileName, bytes: e.file.size })) }
          : {}),
      });
      for (let step = 1; step <= request.steps; step++) {
        signal?.throwIfAborted();
        await new Promise((r) => setTimeout(r, 5));
        onStep?.(step, request.steps);
        if (previews && taesd.length > 0 && step % (previews.every ?? 5) === 0) {
          const grey = new Uint8Array(request.width * request.height * 3).fill(128);
          const png = encodePng(
            { width: request.width, height: request.height, channels: 3, data: grey },
            {},
          );
          previews.onPreview({
            step,
            totalSteps: request.steps,
            png,
            width: request.width,
            height: request.height,
          });
        }
      }
      // A1111's seeds: seed + k·batchSize + j
      const count = (request.batchSize ?? 1) * (request.batchCount ?? 1);
      return Array.from({ length: count }, (_, k) => {
        const seed = request.seed + k;
        const data = new Uint8Array(request.width * request.height * 3);
        for (let i = 0; i < data.length; i++) data[i] = (seed >> (8 * (i % 3))) & 0xff;
        const infotext =
          `${request.prompt}\nNegative prompt: ${request.negativePrompt ?? ""}\n` +
          `Steps: ${request.steps}, Sampler: ${request.sampler}, CFG scale: ${request.cfgScale}, ` +
          `Seed: ${seed}, Size: ${request.width}x${request.height}, Model: test-double`;
        const png = encodePng(
          { width: request.width, height: request.height, channels: 3, data },
          { parameters: infotext },
        );
        return { png, infotext, seed };
      });
    },
    async dispose() {
      record.disposed++;
    },
  };
  return engine;
}

export const localEngineDeps: LocalEngineDeps = {
  openLocalEngine,
  webgpuSupport: async () =>
    scope.__sdliteDoubleSupport ?? {
      ok: true,
      adapter: "Test double adapter",
      shaderF16: false,
      maxBufferSize: 1024 ** 3,
      maxStorageBufferBindingSize: 256 * 1024 ** 2,
      missing: [],
    },
};
