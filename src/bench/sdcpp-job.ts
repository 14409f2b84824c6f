/** What the bench asks the stable-diffusion.cpp baseline process to run, and what it reports back. */
import type { SdcppCallTimes } from "./sdcpp-log.js";

export interface SdcppJob {
  /** The addon (.node) of @lmagder/node-stable-diffusion-cpp. */
  readonly addonPath: string;
  readonly modelPath: string;
  /** Image side in pixels (square). */
  readonly size: number;
  /** Threads; default: the addon's count of physical cores. */
  readonly threads?: number;
  /** Denoising steps of each txt2img call (Euler): one UNet call per step, two with CFG. */
  readonly steps: number;
  readonly runs: number;
  /** CFG scales, one txt2img call each per run: 1 runs the UNet once per step, > 1 twice (cond + uncond). */
  readonly cfgScales: readonly number[];
  readonly prompt: string;
  readonly seed: number;
}

export interface SdcppCall {
  readonly cfgScale: number;
  /** The whole txt2img call, as seen from Node. */
  readonly totalMs: number;
  readonly times: SdcppCallTimes;
}

export interface SdcppOutcome {
  /** new_sd_ctx: reading and converting the checkpoint. */
  readonly loadMs: number;
  readonly threads: number;
  /** The addon's sd_get_system_info(): the SIMD it was built with. */
  readonly systemInfo: string;
  /** stable-diffusion.cpp logged "Using CPU backend". */
  readonly cpuBackend: boolean;
  readonly calls: readonly SdcppCall[];
  readonly hwmBytes?: number;
  readonly cpuMs?: number;
}

export type SdcppMessage =
  | { readonly type: "progress"; readonly call: SdcppCall; readonly index: number; readonly of: number }
  | { readonly type: "done"; readonly outcome: SdcppOutcome }
  | { readonly type: "failed"; readonly message: string };
