/**
 * sdlite's library API: open a model, generate images, write PNGs with their parameters.
 * The CLI, the server and the web UI use nothing beyond what is exported here and below it.
 */
export type { TextualInversionEmbedding } from "./embeddings/embedding-file.js";
export { EmbeddingFolder, readEmbeddingFolder } from "./embeddings/embedding-folder.js";
export type {
  EngineOptions,
  LoraRequest,
  MemoryOptions,
  ModelOptions,
  RuntimeOptions,
  SpeedOptions,
} from "./engine/engine-options.js";
export { type OpenedPipeline, openPipeline } from "./engine/open-pipeline.js";
export type { PreviewDecoder } from "./engine/preview-decoder.js";
export { ChildProcessExecutor, type ChildProcessExecutorOptions } from "./executor/child-process-executor.js";
export { InProcessExecutor, type InProcessExecutorOptions } from "./executor/in-process-executor.js";
export {
  type ExecutionOptions,
  type ExecutionProgress,
  ExecutorCrashedError,
  type JobExecutor,
  type OpenedModelInfo,
} from "./executor/job-executor.js";
export type { GenerationRecord } from "./image/generation-record.js";
export { formatInfotext, parseInfotext } from "./image/infotext.js";
export { decodePng, decodePngRgb, encodePng, readPngText } from "./image/png.js";
export type { GrayImage, RgbImage } from "./image/types.js";
export { LoraCatalog, type LoraEntry } from "./lora/lora-catalog.js";
export {
  A1111_API_INPAINT,
  A1111_UI_INPAINT,
  type InpaintSettings,
  MASKED_CONTENTS,
  type MaskedContent,
  OUTPAINT_INPAINT,
  type Outpaint,
} from "./pipeline/a1111-inpainting.js";
export { GenerationCancelled } from "./pipeline/denoise.js";
export {
  type ConditioningFacts,
  type GeneratedImage,
  type GenerateOptions,
  type GenerationProgress,
  generate,
  type PipelineModels,
} from "./pipeline/generate.js";
export {
  GENERATION_JOB_VERSION,
  type GenerationJob,
  type JobLora,
  type JobModel,
  type JobRequest,
  randomSeed,
  validateGenerationJob,
} from "./pipeline/generation-job.js";
export { hiresSize, type JobHires } from "./pipeline/hires-fix.js";
export type { JobEngine } from "./pipeline/job-engine.js";
export { decodeImage, type EncodedImage, encodeImage } from "./pipeline/job-image.js";
export { type LoraFolder, resolveJobLoras } from "./pipeline/job-loras.js";
export { LATENT_UPSCALE_MODES, upscaleLatents } from "./pipeline/latent-upscale.js";
export { applyRecipe, findRecipe, RECIPES, type Recipe } from "./pipeline/recipes.js";
export { type GenerationRequest, InvalidRequestError } from "./pipeline/request.js";
export {
  type GenerationJobResult,
  type JobOutputImage,
  type JobProgress,
  type JobRunOptions,
  runGenerationJob,
} from "./pipeline/run-generation-job.js";
export { createRandomSource } from "./rng/index.js";
export { listSamplers, resolveSampler } from "./schedulers/registry.js";
export { SCHEDULE_TYPES, type ScheduleType } from "./schedulers/schedule-types.js";
export { type OpenUpscalerOptions, openUpscaler } from "./upscale/open-upscaler.js";
export { formatPostprocessInfo, postprocessTextChunks } from "./upscale/postprocess-info.js";
export { type UpscaleProgress, upscaleBy, upscaleTargetSize } from "./upscale/upscale-by.js";
export type { Upscaler } from "./upscale/upscaler.js";
export { SDLITE_VERSION } from "./version.js";
export { loadModel } from "./weights/load-model.js";
