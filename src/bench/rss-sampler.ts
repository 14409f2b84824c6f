/**
 * Peak resident memory of a process, sampled on a timer. The bench samples each stage's child
 * process from the parent, whose event loop stays free while the child computes; the child's own
 * VmHWM then catches any spike shorter than the interval.
 */
import { type ProcMemory, readProcMemory } from "./proc-status.js";

export const DEFAULT_SAMPLE_INTERVAL_MS = 50;

export interface RssSamples {
  /** Largest VmRSS seen; undefined when no sample could be read. */
  readonly peakBytes?: number;
  readonly samples: number;
}

export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private peak: number | undefined;
  private count = 0;

  constructor(
    private readonly pid: number | "self",
    private readonly intervalMs = DEFAULT_SAMPLE_INTERVAL_MS,
    private readonly read: (pid: number | "self") => ProcMemory | undefined = readProcMemory,
  ) {}

  start(): this {
    if (this.timer) throw new Error("the RSS sampler is already running");
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    // sampling must never keep the process alive on its own
    this.timer.unref();
    return this;
  }

  /** Stops sampling (after one last sample) and returns the peak seen. */
  stop(): RssSamples {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    return { peakBytes: this.peak, samples: this.count };
  }

  private sample(): void {
    const rss = this.read(this.pid)?.rssBytes;
    if (rss === undefined) return;
    this.count++;
    this.peak = Math.max(this.peak ?? 0, rss);
  }
}
