/**
 * Whether a fresh process (`sdlite generate`, the bench's image stage for a low-memory set) creates
 * the UNet's session in a worker thread, so that it loads while this thread creates the text encoder
 * and encodes the prompt
 * (worker-thread-runtime.ts; CPU providers and a stored graph only, the engine decides the rest).
 * On unless SDLITE_UNET_WORKER is "0": on a quiet 2-core machine it brought the first step of a warm
 * `generate --fast` 0.25 s earlier (2.35 → 2.09 s, median of 3 interleaved pairs) and the whole run
 * 0.08 s, for 0.5 s more CPU and 40 MB more peak RSS (docs/benchmarks.md, "The UNet in a worker thread").
 */
export function unetWorkerWanted(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return env.SDLITE_UNET_WORKER !== "0";
}
