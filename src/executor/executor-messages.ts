/**
 * What the server and its executor process say to each other over the IPC channel: plain JSON,
 * one operation (prepare, run, upscale, release) at a time, each answered by `done` or `failed` with its id.
 */

import { LoraFileError } from "../lora/lora-module.js";
import { GenerationCancelled } from "../pipeline/denoise.js";
import type { GenerationJob } from "../pipeline/generation-job.js";
import { InvalidRequestError } from "../pipeline/invalid-request.js";
import type { PipelineSpec } from "../pipeline/job-engine.js";
import type { GenerationJobResult } from "../pipeline/run-generation-job.js";
import type { PreviewSettings } from "../server/live-preview.js";
import { PromptSyntaxError } from "../tokenizer/prompt-weights.js";
import { UpscalerModelError } from "../upscale/esrgan-architecture.js";
import type { UpscaleProgress } from "../upscale/upscale-by.js";
import type { UpscaleJob, UpscaleJobResult } from "../upscale/upscale-job.js";
import { ModelLoadError } from "../weights/model-load-error.js";
import type { ExecutionProgress, OpenedModelInfo } from "./job-executor.js";

export type ToExecutor =
  | { type: "prepare"; id: number; spec: PipelineSpec }
  | { type: "run"; id: number; job: GenerationJob; preview?: PreviewSettings }
  | { type: "upscale"; id: number; job: UpscaleJob }
  | { type: "release"; id: number }
  /** The job's (or upscale's) signal aborted; `keep`: decode what the stopped iteration has. */
  | { type: "abort"; id: number; reason: unknown; keep: boolean }
  /** Iteration `iteration`'s own signal aborted (skip). */
  | { type: "skip"; id: number; iteration: number; keep: boolean };

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  /** The error's own fields (ModelLoadError's reason and path, LoraFileError's file). */
  readonly fields?: Readonly<Record<string, unknown>>;
}

export type FromExecutor =
  | { type: "progress"; id: number; progress: ExecutionProgress }
  | { type: "iteration"; id: number; iteration: number }
  | { type: "preview"; id: number; png: string; step: number }
  | { type: "upscale-progress"; id: number; upscaler: number; progress: UpscaleProgress }
  | { type: "model"; model: OpenedModelInfo | undefined }
  | { type: "log"; line: string }
  | { type: "done"; id: number; result?: GenerationJobResult | UpscaleJobResult }
  | { type: "failed"; id: number; error: SerializedError };

export function serializeError(err: unknown): SerializedError {
  const error = err instanceof Error ? err : new Error(String(err));
  const fields = Object.fromEntries(
    Object.entries(error).filter(([, v]) => ["string", "number", "boolean"].includes(typeof v)),
  );
  return { name: error.name, message: error.message, stack: error.stack, fields };
}

/** The errors callers tell apart by class keep their class across the process boundary. */
const KNOWN_ERRORS: readonly (abstract new (...args: never[]) => Error)[] = [
  InvalidRequestError,
  GenerationCancelled,
  LoraFileError,
  PromptSyntaxError,
  ModelLoadError,
  UpscalerModelError,
];

export function deserializeError(e: SerializedError): Error {
  const known = KNOWN_ERRORS.find((c) => c.name === e.name);
  const error: Error = Object.assign(Object.create((known ?? Error).prototype), e.fields);
  Object.defineProperties(error, {
    name: { value: e.name, writable: true, configurable: true },
    message: { value: e.message, writable: true, configurable: true },
    stack: { value: e.stack ?? `${e.name}: ${e.message}`, writable: true, configurable: true },
  });
  return error;
}
