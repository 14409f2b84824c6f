/**
 * stable-diffusion.cpp reports its own stage times only in its log; these read them back from the
 * lines of one txt2img call (the addon's progress callback never fires: its binding stores the
 * progress function in place of the log function, so the log is the one source).
 */

export interface SdcppCallTimes {
  /** "get_learned_condition completed, taking N ms": the text encoder(s). */
  readonly conditionMs?: number;
  /** "sampling completed, taking N s": every UNet call of the denoising loop, sampler included. */
  readonly samplingMs?: number;
  /** "decode_first_stage completed, taking N s": the VAE decode. */
  readonly decodeMs?: number;
}

const PATTERNS: readonly [keyof SdcppCallTimes, RegExp][] = [
  ["conditionMs", /get_learned_condition completed, taking (\d+(?:\.\d+)?)\s*(ms|s)\b/],
  ["samplingMs", /sampling completed, taking (\d+(?:\.\d+)?)\s*(ms|s)\b/],
  ["decodeMs", /decode_first_stage completed, taking (\d+(?:\.\d+)?)\s*(ms|s)\b/],
];

/** The times named in a call's log lines; a time logged twice (batch count > 1) is summed. */
export function parseSdcppLog(lines: readonly string[]): SdcppCallTimes {
  const times: Partial<Record<keyof SdcppCallTimes, number>> = {};
  for (const line of lines) {
    for (const [key, pattern] of PATTERNS) {
      const m = pattern.exec(line);
      if (!m) continue;
      const ms = Number(m[1]) * (m[2] === "s" ? 1000 : 1);
      times[key] = (times[key] ?? 0) + ms;
    }
  }
  return times;
}

/** Whether the log says stable-diffusion.cpp chose its CPU backend (the CUDA one declined). */
export function usesCpuBackend(lines: readonly string[]): boolean {
  return lines.some((l) => l.includes("Using CPU backend"));
}

/** The widest x86 SIMD the addon was built with, from sd_get_system_info()'s "AVX2 = 1" lines. */
export function simdLevel(systemInfo: string): string {
  for (const level of ["AVX512", "AVX2", "AVX"]) {
    if (new RegExp(`\\b${level} = 1\\b`).test(systemInfo)) return level;
  }
  return "no AVX";
}
