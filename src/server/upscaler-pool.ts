/**
 * The server's open upscalers: resamplers are free to make; the last two models used stay open
 * (sessions loaded) for the next requests — two, since one request may blend two models — and the
 * least recently used is closed when a third is asked for, the rest when the server stops. Only
 * the job queue calls this, so one upscale runs at a time.
 */
import { classicUpscaler } from "../upscale/classic-upscalers.js";
import { type OpenUpscalerOptions, openUpscaler } from "../upscale/open-upscaler.js";
import type { Upscaler } from "../upscale/upscaler.js";
import type { UpscalerEntry } from "../upscale/upscaler-catalog.js";

const OPEN_MODELS = 2;

export class UpscalerPool {
  /** Most recently used last. */
  private readonly open: { path: string; upscaler: Upscaler }[] = [];

  constructor(private readonly options: OpenUpscalerOptions = {}) {}

  async get(entry: UpscalerEntry): Promise<Upscaler> {
    if (!entry.path) {
      const classic = classicUpscaler(entry.name);
      if (!classic) throw new Error(`no resampler named ${entry.name}`);
      return classic;
    }
    const index = this.open.findIndex((o) => o.path === entry.path);
    if (index >= 0) {
      const [found] = this.open.splice(index, 1);
      this.open.push(found);
      return found.upscaler;
    }
    while (this.open.length >= OPEN_MODELS) await this.open.shift()?.upscaler.close();
    const upscaler = openUpscaler(entry.path, { ...this.options, name: entry.name });
    this.open.push({ path: entry.path, upscaler });
    return upscaler;
  }

  async close(): Promise<void> {
    for (const o of this.open.splice(0)) await o.upscaler.close();
  }
}
