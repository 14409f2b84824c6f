/**
 * A1111's hires fix in the in-tab engine, run as run-generation-job.ts runs it for `sdlite generate`
 * and the server: the first pass prepared once (prepareGeneration), then per iteration its latents
 * denoised and handed to the second pass (src/pipeline/hires-pass.ts), which enlarges them and runs
 * the img2img at the hires size. The upscalers are those that need no model file: A1111's Latent
 * modes and the resamplers None, Lanczos and Nearest (src/upscale/classic-upscalers.ts); an
 * ESRGAN-family upscaler is a file in the server's upscalers folder, which the tab has not.
 */
import {
  type ConditioningFacts,
  type GeneratedImage,
  type GenerateOptions,
  type IterationOptions,
  type PipelineModels,
  prepareGeneration,
} from "../../../src/pipeline/generate.js";
import { checkJobHires, hiresUpscale, type JobHires } from "../../../src/pipeline/hires-fix.js";
import { prepareHiresPass } from "../../../src/pipeline/hires-pass.js";
import type { GenerationRequest, ValidRequest } from "../../../src/pipeline/request.js";
import { CLASSIC_UPSCALER_NAMES, classicUpscaler } from "../../../src/upscale/classic-upscalers.js";

/** The hires settings of a request (hires-fix.ts's, as a job carries them), without a model file. */
export type LocalHires = Omit<JobHires, "upscalerPath">;

/** The engine request's hires field (LocalGenerateRequest). */
export interface LocalHiresRequest {
  /**
   * A1111's hires fix (txt2img's enable_hr and hr_* fields, as hires-fix.ts's JobHires names them):
   * a second, img2img pass at the larger size; the record gets A1111's `Hires …` entries.
   */
  hires?: LocalHires;
}

/** A prepared request whose iterations make final images (with the hires fix when asked for). */
export interface LocalGeneration {
  /** The first pass's request, as the record names it. */
  readonly request: ValidRequest;
  /** What the first pass's prompts turned into (the record's `TI hashes`, `Pad conds`). */
  readonly conditioning: ConditioningFacts;
  iteration(k: number, options?: Pick<IterationOptions, "signal" | "onProgress">): Promise<GeneratedImage[]>;
  close(): Promise<void>;
}

/** The job's checks of `hires` (generation-job.ts), and an upscaler the tab can run. */
export function checkLocalHires(hires: LocalHires, request: GenerationRequest): JobHires {
  if (request.initImage)
    throw new Error("hires fix is for txt2img: a request with an init image cannot have it");
  // said before the job's check, which asks for a weights file
  const upscale = hiresUpscale(hires);
  if (upscale.kind === "image" && !classicUpscaler(upscale.name)) {
    throw new Error(
      `hires upscaler "${upscale.name}" needs a model file; in the browser: the Latent modes, ${CLASSIC_UPSCALER_NAMES.join(", ")}`,
    );
  }
  return checkJobHires(hires);
}

/**
 * `request` prepared (its prompts encoded once); with `hires`, each iteration is the first pass's
 * latents through the second pass, as the job runner does it.
 */
export async function prepareLocalGeneration(
  models: PipelineModels,
  request: GenerationRequest,
  hires: LocalHires | undefined,
  options: Pick<GenerateOptions, "onProgress" | "embeddings"> = {},
): Promise<LocalGeneration> {
  const checked = hires ? checkLocalHires(hires, request) : undefined;
  const generation = await prepareGeneration(models, request, options);
  if (!checked) {
    return {
      request: generation.request,
      conditioning: generation.conditioning,
      iteration: (k, o) => generation.iteration(k, o),
      close: async () => {},
    };
  }
  const pass = await prepareHiresPass(models, generation.request, checked, {
    ...options,
    openUpscaler: (upscale) => classicUpscaler(upscale.name)!,
  });
  return {
    request: generation.request,
    conditioning: generation.conditioning,
    async iteration(k, { signal, onProgress = options.onProgress } = {}) {
      const first = await generation.denoiseIteration(k, { signal, onProgress });
      return pass.run(first, k, { signal, onProgress });
    },
    close: () => pass.close(),
  };
}
