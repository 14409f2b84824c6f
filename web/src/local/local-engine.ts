/**
 * The in-tab engine: a single-file SD1.5 checkpoint (a Blob) to images, entirely in the browser on
 * onnxruntime-web (WebGPU, or wasm). This file is the seam the web UI codes against.
 *
 * Everything numerical is sdlite's own code, bundled as it is: the checkpoint is read and checked by
 * the weights loader (src/weights/ldm-checkpoint.ts) over a Blob-backed file, the networks are built
 * by the graph builder (src/graph/) through the engine's factories and assemblePipeline
 * (src/engine/assemble-pipeline.ts), and images are made by the pipeline's generate()
 * (src/pipeline/), with the same request checks, infotext and PNG metadata as `sdlite generate`.
 * Only where Node reads files there is a browser side here: the Blob file (blob-safetensors.ts), the
 * graph store (store-graph-sessions.ts), the tokenizer's vocabulary fetched from the built folder,
 * the model hash streamed over the Blob (blob-sha256.ts) and LoRA Blobs (blob-lora.ts; merged by
 * the same code as Node's, src/engine/lora-merged-weights.ts). A1111's inpainting around the loop
 * (mask blur, masked content, "only masked", paste-back) is the job runner's prepareRequestInpainting
 * (src/pipeline/a1111-inpainting.ts), applied the way run-generation-job.ts applies it.
 *
 * The page must be cross-origin isolated (COOP/COEP headers: `sdlite serve` sends them) for
 * onnxruntime-web's threads. ORT's module and wasm files come from `./ort/` beside this bundle.
 *
 * TAESD (options.taesd, as `--taesd`) gives live previews through the server's rule and code
 * (local-previews.ts) and, with options.decoder "taesd", the fast final decode.
 *
 * A1111's hires fix (latent modes and the resamplers) runs as the job runner runs it (local-hires.ts
 * over src/pipeline/hires-pass.ts).
 *
 * Textual-inversion embeddings come as dropped files (blob-embedding.ts: the Node reader's pure part,
 * src/embeddings/embedding-tensors.ts), used by name in prompts as an embeddings folder's are.
 * Outpainting needs nothing more: the page sends the image on its larger canvas with its mask.
 */
import {
  assemblePipeline,
  checkedPrecision,
  type OpenedPipeline,
} from "../../../src/engine/assemble-pipeline.js";
import type { DecoderKind, EngineOptions } from "../../../src/engine/engine-options.js";
import {
  type DeviceFeatures,
  graphVariantFor,
  variantSessionOptions,
} from "../../../src/engine/graph-variant.js";
import { type LoadedLora, mergeLoadedLoras } from "../../../src/engine/lora-merged-weights.js";
import type { NetworkContext } from "../../../src/engine/networks/network-factory.js";
import { chooseSequentialLoading, type LoadingChoice } from "../../../src/engine/sequential-loading.js";
import { webGpuRunsF16 } from "../../../src/engine/webgpu-shader-f16.js";
import type { ComputePrecision } from "../../../src/graph/float16-compute.js";
import type { GenerationRecord } from "../../../src/image/generation-record.js";
import { formatInfotext } from "../../../src/image/infotext.js";
import { modelShortHash } from "../../../src/image/model-hash.js";
import { encodePng } from "../../../src/image/png.js";
import { type GrayImage, type RgbImage, rgbPixels } from "../../../src/image/types.js";
import { parsePromptTags } from "../../../src/lora/lora-tags.js";
import { LoraTargets } from "../../../src/lora/lora-targets.js";
import {
  A1111_UI_INPAINT,
  type InpaintSettings,
  MASKED_CONTENTS,
  type PreparedInpainting,
  prepareRequestInpainting,
} from "../../../src/pipeline/a1111-inpainting.js";
import type { GeneratedImage, GenerateOptions } from "../../../src/pipeline/generate.js";
import { buildGenerationRecord, type RecordLora } from "../../../src/pipeline/generation-record.js";
import type { GenerationRequest } from "../../../src/pipeline/request.js";
import { OnnxruntimeWeb, type OrtWebModule } from "../../../src/runtime/onnxruntime-web.js";
import { ClipTokenizer } from "../../../src/tokenizer/clip-tokenizer.js";
import { parseMerges, parseVocab } from "../../../src/tokenizer/vocab-files.js";
import { parseArchitectureOverrides } from "../../../src/weights/architecture/architecture-overrides.js";
import { readLdmCheckpoint } from "../../../src/weights/ldm-checkpoint.js";
import type { LoadedWeightsModel } from "../../../src/weights/loaded-model.js";
import { singleFileModel } from "../../../src/weights/single-file-model.js";
import { EmbeddingBlobs, type LocalEmbeddingsRequest } from "./blob-embedding.js";
import { readLoraBlob } from "./blob-lora.js";
import { BlobSafetensors } from "./blob-safetensors.js";
import { blobSha256 } from "./blob-sha256.js";
import { type NamedBlob, readTaesdBlobs, type TaesdBlobs } from "./blob-taesd.js";
import { type LocalHiresRequest, prepareLocalGeneration } from "./local-hires.js";
import { type LocalPreview, type LocalPreviewOptions, localPreviews } from "./local-previews.js";
import type { GraphStore } from "./store-graph-sessions.js";
import { storeGraphSessions } from "./store-graph-sessions.js";
import { type WebGpuSupport, webgpuSupport } from "./webgpu-support.js";

export { type GraphStore, type LocalPreview, type LocalPreviewOptions, type WebGpuSupport, webgpuSupport };

export type LocalBackend = "webgpu" | "wasm";

export interface LocalLoadOptions {
  backend: LocalBackend;
  /** Built graphs are kept here between visits (e.g. OPFS); without it they are built every time. */
  graphStore?: GraphStore;
  /** Progress while loading and building: a message, and a fraction in [0, 1] when known. */
  onStatus?(message: string, fraction?: number): void;
  signal?: AbortSignal;
  /**
   * What a single file cannot tell (GroupNorm groups, heads, activation, prediction type): the JSON
   * of a `<checkpoint>.sdlite.json` sidecar, checked as `sdlite generate` checks the sidecar beside
   * the file (src/weights/README.md). Real SD1.5 checkpoints need none.
   */
  overrides?: unknown;
  /**
   * TAESD weights, as `--taesd` takes them: madebyollin/taesd's `taesd_decoder.safetensors` (with or
   * without `taesd_encoder.safetensors`) or one diffusers AutoencoderTiny file. They give live
   * previews (generate's `previews`); without them there are none.
   */
  taesd?: NamedBlob[];
  /** The final decoder: "vae" (default) or "taesd" (fast, needs `taesd`; infotext `VAE Decoder: TAESD`). */
  decoder?: DecoderKind;
  /**
   * The networks' compute precision, as `sdlite generate --precision`: "fp32" or "fp16" (fp16
   * weights and activations, the float32 islands of src/graph/float16-compute.ts). Unset: as Node's
   * WebGPU, fp16 where the adapter runs f16 shaders (a tiny fp16 graph run once, engine/
   * webgpu-shader-f16.ts) and fp32 everywhere else (wasm, SwiftShader). onnxruntime-web 1.30's
   * WebGPU build is the same native provider as onnxruntime-node's, whose fp16 kernels are tested
   * on lavapipe (test/webgpu-fp16-lavapipe.test.ts); headless Chromium itself offers only SwiftShader,
   * without f16, so no browser test runs them. fp16 halves the weights: SD1.5 at 512x512 needed
   * 2.93 GB of device memory on lavapipe (docs/benchmarks.md), fp32 more than 4 GB.
   */
  precision?: ComputePrecision;
  /**
   * Load one network at a time (the text encoder freed before the UNet loads, the UNet before the
   * VAE decodes), as `sdlite generate --low-memory`. Default: on for WebGPU (the browser does not
   * say how much video memory the adapter has, and SD1.5's fp32 weights alone are 4.27 GB), off for
   * wasm (src/engine/sequential-loading.ts).
   */
  sequentialLoading?: boolean;
  /**
   * WebGPU: compute the UNet's full-resolution self-attention one head at a time (src/graph/layers.ts
   * headsPerSlice), so that one head's scores are live instead of all eight (at 512x512 with CFG,
   * 128 MiB instead of 1 GiB per scores tensor); the same numbers. Default on; false turns it off.
   */
  attentionSlicing?: boolean;
}

/** RGBA pixels, as ImageData holds them (an ImageData fits). */
export interface LocalImageData {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray | Uint8Array;
}

export interface LocalGenerateRequest extends LocalHiresRequest, LocalEmbeddingsRequest {
  prompt: string;
  negativePrompt?: string;
  steps: number;
  cfgScale: number;
  width: number;
  height: number;
  seed: number;
  /** A1111's sampler name ("Euler a", "DPM++ 2M", …). */
  sampler: string;
  /** A1111's Schedule type ("Automatic", "Karras", …); default Automatic. */
  scheduler?: string;
  /** img2img: the init image (resized to width × height by the caller). */
  initImage?: LocalImageData;
  /** Inpainting: white = repaint, as RGBA (its red channel is used), same size as the init image. */
  mask?: LocalImageData;
  /** img2img strength; default 0.75. */
  denoisingStrength?: number;
  /** A1111's Clip skip (CLIP_stop_at_last_layers): 1 (default) uses the text encoder's last layer. */
  clipSkip?: number;
  /**
   * A1111's batch size and batch count (generateImages): batchSize images per UNet batch, batchCount
   * batches, with seeds seed + k·batchSize + j as `sdlite generate` and A1111 give them; default 1.
   */
  batchSize?: number;
  batchCount?: number;
  /**
   * LoRA files merged into the UNet and text encoder, in order, as `sdlite generate --lora FILE:WEIGHT`
   * does; `name` is what the infotext calls it (A1111: the file name without extension). A
   * `<lora:name:…>` tag in the prompt naming it is kept in the prompt; otherwise the infotext's
   * prompt gets one added. Tags in the prompt are never looked up (there is no LoRA folder here).
   */
  loras?: { name: string; file: Blob; weight: number }[];
  /*
   * A1111's inpainting around the loop, with a mask: setting any of these runs it (the rest take
   * A1111's img2img tab defaults: blur 4, original, whole picture, padding 32). With none set the
   * mask is used as it is, at width × height, without paste-back.
   */
  /** mask_blur: Gaussian sigma in pixels (x and y), 0 = none. */
  maskBlur?: number;
  /** inpainting_fill: 0 fill, 1 original, 2 latent noise, 3 latent nothing. */
  inpaintingFill?: number;
  /** inpaint_full_res: "Only masked" (true) or "Whole picture". */
  inpaintFullRes?: boolean;
  /** inpaint_full_res_padding: pixels around the masked area. */
  inpaintFullResPadding?: number;
  /** inpainting_mask_invert: repaint what the mask leaves black. */
  inpaintingMaskInvert?: boolean;
}

export interface LocalImage {
  /** The PNG file, with A1111's `parameters` text chunk. */
  png: Uint8Array;
  infotext: string;
  seed: number;
}

export interface LocalEngine {
  readonly backend: LocalBackend;
  /** Whether TAESD weights were given, so generate's `previews` get pictures. */
  readonly previews: boolean;
  /** Whether networks load one at a time, and why (LocalLoadOptions.sequentialLoading). */
  readonly loading: LoadingChoice;
  /** The networks' compute precision (LocalLoadOptions.precision, or the adapter's choice). */
  readonly precision: ComputePrecision;
  /** The request's first image (all of a batch are made; generateImages returns them all). */
  generate(
    request: LocalGenerateRequest,
    onStep?: (step: number, total: number) => void,
    signal?: AbortSignal,
    previews?: LocalPreviewOptions,
  ): Promise<LocalImage>;
  /** Every image of the request (batchSize × batchCount), in seed order; previews show batch item 0. */
  generateImages(
    request: LocalGenerateRequest,
    onStep?: (step: number, total: number) => void,
    signal?: AbortSignal,
    previews?: LocalPreviewOptions,
  ): Promise<LocalImage[]>;
  dispose(): Promise<void>;
}

/** Where the built folder keeps ORT's files and the CLIP vocabulary (scripts/build-web.ts). */
const ORT_MODULE = "ort/ort.webgpu.min.mjs";
const ORT_DIR = "ort/";
const TOKENIZER_DIR = "clip-tokenizer/";

/** onnxruntime-web, loaded once per page: one module, one WebGPU device, one call at a time. */
let ortRuntime: Promise<OnnxruntimeWeb> | undefined;

function webRuntime(): Promise<OnnxruntimeWeb> {
  ortRuntime ??= (async () => {
    const ort = (await import(
      /* webpackIgnore: true */ new URL(ORT_MODULE, import.meta.url).href
    )) as OrtWebModule;
    const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
    return new OnnxruntimeWeb(ort, {
      wasmPaths: new URL(ORT_DIR, import.meta.url).href,
      // without COOP/COEP there is no SharedArrayBuffer: one thread
      ...(isolated ? {} : { numThreads: 1 }),
    });
  })();
  return ortRuntime;
}

async function fetchText(url: URL): Promise<string> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status} (the built web folder is incomplete)`);
  return res.text();
}

async function bundledTokenizer(padToken: string | undefined): Promise<ClipTokenizer> {
  const dir = new URL(TOKENIZER_DIR, import.meta.url);
  const [vocab, merges] = await Promise.all([
    fetchText(new URL("vocab.json", dir)),
    fetchText(new URL("merges.txt", dir)),
  ]);
  return new ClipTokenizer(parseVocab(vocab), parseMerges(merges), padToken ? { padToken } : {});
}

/** The infotext's `Model`: the file name without .safetensors / .ckpt (as modelNameOf in Node). */
function modelName(name: string): string {
  const m = /\.(safetensors|ckpt)$/i.exec(name);
  return m ? name.slice(0, -m[0].length) : name;
}

function rgbOf(image: LocalImageData, what: string): RgbImage {
  const { width, height, data } = image;
  if (data.length !== width * height * 4) throw new Error(`${what}: expected ${width}x${height} RGBA pixels`);
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgb[i] = data[j];
    rgb[i + 1] = data[j + 1];
    rgb[i + 2] = data[j + 2];
  }
  return { width, height, data: rgb };
}

function grayOf(image: LocalImageData): GrayImage {
  const { width, height, data } = image;
  if (data.length !== width * height * 4) throw new Error(`mask: expected ${width}x${height} RGBA pixels`);
  const gray = new Uint8Array(width * height);
  for (let i = 0; i < gray.length; i++) gray[i] = data[i * 4];
  return { width, height, data: gray };
}

/** A1111's inpainting settings the request asks for, or undefined (the mask used as it is). */
export function inpaintSettings(request: LocalGenerateRequest): InpaintSettings | undefined {
  const { maskBlur, inpaintingFill, inpaintFullRes, inpaintFullResPadding, inpaintingMaskInvert } = request;
  if (
    [maskBlur, inpaintingFill, inpaintFullRes, inpaintFullResPadding, inpaintingMaskInvert].every(
      (v) => v === undefined,
    )
  ) {
    return undefined;
  }
  if (!request.mask) throw new Error("the inpainting settings need a mask");
  const d = A1111_UI_INPAINT;
  if (
    inpaintingFill !== undefined &&
    !(Number.isInteger(inpaintingFill) && inpaintingFill >= 0 && inpaintingFill <= 3)
  ) {
    throw new Error(`inpaintingFill must be an integer from 0 to 3, got ${inpaintingFill}`);
  }
  // checked again (blur range, padding) by prepareRequestInpainting, as a job's settings are
  return {
    maskBlurX: maskBlur ?? d.maskBlurX,
    maskBlurY: maskBlur ?? d.maskBlurY,
    maskedContent: inpaintingFill === undefined ? d.maskedContent : MASKED_CONTENTS[inpaintingFill],
    fullRes: inpaintFullRes ?? d.fullRes,
    fullResPadding: inpaintFullResPadding ?? d.fullResPadding,
    invertMask: inpaintingMaskInvert ?? d.invertMask,
  };
}

/**
 * The request as the job runner prepares it for `sdlite generate` with the same settings (images
 * as pixels, LoRA tags out of the prompt, A1111's inpainting around the loop when asked for).
 */
export function preparedRequest(request: LocalGenerateRequest): PreparedInpainting {
  const prompt = parsePromptTags(request.prompt).prompt;
  const r: GenerationRequest = {
    prompt,
    ...(request.negativePrompt ? { negativePrompt: request.negativePrompt } : {}),
    sampler: request.sampler,
    ...(request.scheduler ? { schedule: request.scheduler } : {}),
    steps: request.steps,
    guidance: request.cfgScale,
    seed: request.seed,
    width: request.width,
    height: request.height,
    ...(request.initImage ? { initImage: rgbOf(request.initImage, "init image") } : {}),
    ...(request.initImage && request.denoisingStrength !== undefined
      ? { strength: request.denoisingStrength }
      : {}),
    ...(request.mask ? { mask: grayOf(request.mask) } : {}),
    ...(request.clipSkip !== undefined ? { clipSkip: request.clipSkip } : {}),
    ...(request.batchSize !== undefined ? { batchSize: request.batchSize } : {}),
    ...(request.batchCount !== undefined ? { batchCount: request.batchCount } : {}),
  };
  return prepareRequestInpainting(r, inpaintSettings(request), undefined);
}

/** The pipeline request generate() runs for `request` (preparedRequest's). */
export function pipelineRequest(request: LocalGenerateRequest): GenerationRequest {
  return preparedRequest(request).request;
}

/** The infotext's LoRA entries, as the job runner makes them from `--lora FILE:WEIGHT` or prompt tags. */
function recordLoras(request: LocalGenerateRequest, loaded: readonly LoadedLora[]): RecordLora[] {
  const tagged = new Set(parsePromptTags(request.prompt).loras.map((t) => t.name));
  return (request.loras ?? []).map((l, i) => ({
    path: loaded[i].file.path,
    weight: l.weight,
    name: l.name,
    inPrompt: tagged.has(l.name),
    addnetHash: loaded[i].file.addnetHash,
  }));
}

/** The network context for this page's runtime: the backend's graph variant (graph-variant.ts). */
function networkContext(
  runtime: OnnxruntimeWeb,
  backend: LocalBackend,
  graphs: NetworkContext["graphs"],
  name: string,
  computePrecision: ComputePrecision | undefined,
  attentionSlicing: boolean | undefined,
  device: DeviceFeatures | undefined,
): NetworkContext {
  const variant = graphVariantFor([backend], { computePrecision, attentionSlicing }, device);
  return {
    target: { runtime, session: { executionProviders: [backend], ...variantSessionOptions(variant) } },
    variant,
    graphs,
    // int8 graphs are never asked for here
    int8WeightBits: () => 8,
    modelPath: name,
  };
}

type RequestLoras = NonNullable<LocalGenerateRequest["loras"]>;

/** The same LoRA files (the same Blobs) at the same weights and names. */
function sameLoras(a: RequestLoras, b: RequestLoras): boolean {
  return (
    a.length === b.length &&
    a.every((l, i) => l.file === b[i].file && l.weight === b[i].weight && l.name === b[i].name)
  );
}

/** The file name a LoRA Blob goes by (a File's name, else the request's name). */
function loraFileName(lora: RequestLoras[number]): string {
  return (lora.file as Blob & { name?: string }).name || `${lora.name}.safetensors`;
}

export async function openLocalEngine(checkpoint: Blob, options: LocalLoadOptions): Promise<LocalEngine> {
  const { backend, onStatus, signal } = options;
  if (backend !== "webgpu" && backend !== "wasm") throw new Error(`unknown backend "${String(backend)}"`);
  if (backend === "webgpu" && !(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) {
    throw new Error("this browser has no WebGPU; use the wasm backend");
  }
  const name = (checkpoint as Blob & { name?: string }).name ?? "model.safetensors";
  const overrides =
    options.overrides === undefined
      ? undefined
      : parseArchitectureOverrides(options.overrides, `${name}.sdlite.json`);
  const decoder = options.decoder ?? "vae";
  if (decoder !== "vae" && decoder !== "taesd") throw new Error(`unknown decoder "${String(decoder)}"`);
  if (decoder === "taesd" && !options.taesd?.length) {
    throw new Error("the TAESD decoder was chosen but no TAESD weights were given (options.taesd)");
  }
  // the pipeline's settings, as `sdlite generate --decoder` takes them (checked by assemblePipeline)
  const engineOptions: EngineOptions = {
    speed: {
      ...(decoder === "taesd" ? { decoder } : {}),
      ...(options.precision !== undefined ? { precision: options.precision } : {}),
    },
  };
  const computePrecision = checkedPrecision(engineOptions);
  onStatus?.("loading onnxruntime-web");
  const runtime = await webRuntime();
  let taesd: TaesdBlobs | undefined;
  if (options.taesd?.length) {
    onStatus?.("reading the TAESD weights");
    taesd = await readTaesdBlobs(options.taesd, signal);
  }
  // unset on WebGPU: fp16 where the adapter runs f16 shaders, as open-pipeline.ts does in Node
  const device: DeviceFeatures | undefined =
    backend === "webgpu" && computePrecision === undefined
      ? { shaderF16: await webGpuRunsF16(runtime) }
      : undefined;
  // the page cannot read the adapter's video memory: WebGPU counts it as unknown
  const loading = chooseSequentialLoading(options.sequentialLoading, [backend], () => ({ api: "unknown" }));
  onStatus?.("reading the checkpoint header");
  let file: BlobSafetensors;
  try {
    file = await BlobSafetensors.open(checkpoint, name);
  } catch (err) {
    taesd?.component.close();
    throw err;
  }
  let model: LoadedWeightsModel;
  let ctx: NetworkContext;
  let tokenizer: ClipTokenizer;
  // the pipeline of the last LoRA list asked for (none at first): one at a time, so a full-size UNet
  // is never held twice; the checkpoint file is this engine's, closed by dispose()
  let current: { loras: RequestLoras; pipeline: OpenedPipeline; loaded: readonly LoadedLora[] };
  let shared: LoadedWeightsModel;
  try {
    model = singleFileModel(name, readLdmCheckpoint(file, name, overrides), {
      ...(taesd ? { taesd: taesd.component } : {}),
      close: () => {
        file.close();
        taesd?.component.close();
      },
    });
    shared = { ...model, close: () => {} };
    tokenizer = await bundledTokenizer(
      model.tokenizer.kind === "not-in-format" ? model.tokenizer.padToken : undefined,
    );
    const graphs = storeGraphSessions({
      checkpoint,
      file,
      store: options.graphStore,
      otherFiles: taesd?.files,
      onStatus,
      signal,
    });
    ctx = networkContext(runtime, backend, graphs, name, computePrecision, options.attentionSlicing, device);
    // the model's own weights: no LoRA (its fingerprint as Node's, for the same keys)
    const pipeline = assemblePipeline(
      shared,
      ctx,
      tokenizer,
      mergeLoadedLoras(shared, []),
      engineOptions,
      loading,
    );
    current = { loras: [], pipeline, loaded: [] };
  } catch (err) {
    file.close();
    taesd?.component.close();
    throw err;
  }
  // A1111's Model hash: streamed once, while the first image is made
  let hash: Promise<string | undefined> | undefined;
  const modelHash = () => {
    hash ??= blobSha256(checkpoint).then(modelShortHash, () => undefined);
    return hash;
  };
  onStatus?.("ready", 1);
  let busy: Promise<unknown> = Promise.resolve();
  let targets: LoraTargets | undefined;
  const embeddingBlobs = new EmbeddingBlobs();

  /** The pipeline for this LoRA list: the current one, or one whose UNet and text encoder get the merged weights. */
  const pipelineFor = async (loras: RequestLoras, runSignal?: AbortSignal): Promise<typeof current> => {
    if (sameLoras(current.loras, loras)) return current;
    targets ??= new LoraTargets({ unet: model.unet.weights, textEncoder: model.textEncoder.weights });
    const loaded: LoadedLora[] = [];
    for (const l of loras) {
      onStatus?.(`reading the LoRA ${l.name}`);
      loaded.push({
        file: await readLoraBlob(l.file, loraFileName(l), targets, runSignal),
        weight: l.weight,
      });
    }
    // read (and checked) first: a bad file leaves the current pipeline as it was
    const pipeline = assemblePipeline(
      shared,
      ctx,
      tokenizer,
      mergeLoadedLoras(shared, loaded),
      engineOptions,
      loading,
    );
    await current.pipeline.close();
    current = { loras: [...loras], pipeline, loaded };
    return current;
  };

  const run = async (
    request: LocalGenerateRequest,
    onStep?: (step: number, total: number) => void,
    runSignal?: AbortSignal,
    previews?: LocalPreviewOptions,
  ): Promise<LocalImage[]> => {
    const prepared = preparedRequest(request);
    const r = prepared.request;
    const { pipeline: opened, loaded } = await pipelineFor(request.loras ?? [], runSignal);
    const shortHash = modelHash();
    const live = localPreviews(opened.previewDecoder, previews);
    const onProgress: GenerateOptions["onProgress"] = (p) => {
      if (p.stage === "denoise" && p.step > 0) onStep?.(p.step, p.totalSteps);
      live?.step(p);
    };
    const embeddings = await embeddingBlobs.list(request.embeddings, runSignal);
    const generation = await prepareLocalGeneration(opened.models, r, request.hires, {
      onProgress,
      embeddings,
    });
    const made: GeneratedImage[] = [];
    try {
      // batchCount iterations of batchSize images, as the pipeline's generate() runs them
      for (let k = 0; k < generation.request.batchCount; k++) {
        if (runSignal?.aborted) break;
        made.push(...(await generation.iteration(k, { signal: runSignal, onProgress })));
      }
    } finally {
      // a preview still decoding belongs to this image: it must not outlive it
      await live?.settled();
      await generation.close();
    }
    if (made.length === 0) throw new Error("the generation was cancelled");
    const hashed = await shortHash;
    // A1111's paste-back, and the record, as run-generation-job.ts makes them (each image its seed)
    return made.map(({ image: generated, seed }) => {
      const image = prepared.finish(generated);
      const record: GenerationRecord = buildGenerationRecord({ ...r, prompt: request.prompt }, seed, {
        inpainting: prepared.infotext,
        modelName: modelName(name),
        modelHash: hashed,
        loras: recordLoras(request, loaded),
        conditioning: generation.conditioning,
        speed: engineOptions.speed,
        ...(request.hires ? { hires: request.hires } : {}),
      });
      const infotext = formatInfotext(record);
      return { png: encodePng(rgbPixels(image), { parameters: infotext }), infotext, seed };
    });
  };
  // one generation at a time: the sessions and onnxruntime-web's device are shared
  const queued = (...args: Parameters<typeof run>): Promise<LocalImage[]> => {
    const next = busy.then(() => run(...args));
    busy = next.catch(() => undefined);
    return next;
  };

  return {
    backend,
    loading,
    precision: ctx.variant.computePrecision,
    previews: taesd !== undefined,
    async generate(request, onStep, runSignal, previews) {
      return (await queued(request, onStep, runSignal, previews))[0];
    },
    generateImages: queued,
    async dispose() {
      await busy;
      await current.pipeline.close();
      file.close();
    },
  };
}
