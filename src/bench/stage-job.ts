/** What the bench asks one stage process to run, and what it reports back (plain JSON both ways). */

import type { RecordedThread } from "../runtime/recording-runtime.js";
import type { OptionSet } from "./option-set.js";

/** The stages a user can pick, in the order they run. */
export const STAGES = ["startup", "text", "unet1", "unet2", "vae", "taesd", "image"] as const;
export type StageName = (typeof STAGES)[number];

export const STAGE_TITLES: Readonly<Record<StageName, string>> = {
  startup: "start-up",
  text: "text encoder",
  unet1: "UNet step, batch 1",
  unet2: "UNet step, batch 2 (CFG)",
  vae: "VAE decode",
  taesd: "TAESD decode",
  image: "whole image",
};

export interface ImageSettings {
  readonly prompt: string;
  readonly sampler: string;
  readonly steps: number;
  readonly guidance: number;
  readonly seed: number;
}

export interface StageJob {
  readonly stage: StageName;
  readonly modelPath: string;
  readonly taesdPath?: string;
  /** The graph cache this process builds into / loads from. */
  readonly cacheDir: string;
  /** Passed to openPipeline's EngineOptions as they are. */
  readonly options: OptionSet;
  readonly threads?: number;
  /** Image side in pixels (square). */
  readonly size: number;
  /** Timed runs after the warm-up run. */
  readonly runs: number;
  readonly image: ImageSettings;
  /** Where the image stage writes its last image (PNG). */
  readonly imageOut?: string;
}

/** Time spent inside one network during a run (calls include session loading on a first run). */
export interface NetworkTime {
  readonly ms: number;
  readonly calls: number;
}

export interface RunTiming {
  readonly ms: number;
  /** By network: "text-encoder", "unet", "decoder". */
  readonly networks: Readonly<Record<string, NetworkTime>>;
}

/** One network's first call in a fresh process (loading or building its graph) and its second call. */
export interface StartupTiming {
  readonly network: string;
  readonly firstMs: number;
  readonly secondMs: number;
}

export interface StageOutcome {
  /** When openPipeline was called, in ms since this process started (Node's start-up and imports). */
  readonly openStartMs?: number;
  /** openPipeline: reading the model's headers and configs; graphs load lazily on first use. */
  readonly openMs: number;
  /**
   * When the warm-up run's first UNet call ended, in ms since this process started: a fresh
   * process's time to its first denoising step, loading and prompt encoding included.
   */
  readonly firstUnetEndMs?: number;
  /**
   * When the UNet's session first began to run (its session created, prompt encoded), in ms since
   * this process started: a fresh process's time before its first step. Undefined for an ONNX
   * folder's UNet, which is not a cache entry.
   */
  readonly firstUnetRunAtMs?: number;
  /** The thread the UNet's session ran in (a low-memory set's image stage: a worker, as `generate`). */
  readonly unetThread?: RecordedThread;
  /** Whether the UNet's session was the one preloaded from the last stage's hint (stage-unet-preload.ts). */
  readonly unetPreloaded?: boolean;
  /** The warm-up run: includes loading (or building) the graphs it needs. */
  readonly first: RunTiming;
  readonly runs: readonly RunTiming[];
  /** Graph cache entries this process had to build (0 with a warm cache). */
  readonly builtGraphs: number;
  readonly startup?: readonly StartupTiming[];
  readonly imagePath?: string;
  /** The process's own VmHWM at the end. */
  readonly hwmBytes?: number;
  /** CPU time (user + system, all threads) the process used, in ms. */
  readonly cpuMs?: number;
}

export type StageProgress = { readonly run: number; readonly runs: number; readonly ms: number };

/** Messages from a stage process to the bench. */
export type StageMessage =
  | { readonly type: "progress"; readonly progress: StageProgress }
  | { readonly type: "done"; readonly outcome: StageOutcome }
  | { readonly type: "failed"; readonly message: string };
