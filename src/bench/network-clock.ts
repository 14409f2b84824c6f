/**
 * Time spent inside each network, measured by wrapping the pipeline's network seams: a whole-image
 * run then splits into text encoder, UNet and decoder time, and the UNet time over the steps is the
 * effective time per step whatever the engine does inside (feature reuse, quantised weights).
 */
import type { NetworkTime } from "./stage-job.js";

type AsyncMethod = (...args: never[]) => Promise<unknown>;

export class NetworkClock {
  private totals = new Map<string, { ms: number; calls: number }>();
  /** When each network's first call ended, in ms since the process started (performance.now()). */
  private readonly firstEnds = new Map<string, number>();

  /**
   * The network with `method` timed under `name`; every other member reads from (and methods run
   * on) the original object, so engine-specific state stays where the engine put it. Methods named
   * in `derived` return another network (a UNet's per-run predictor, `startRun`), which is timed
   * the same way.
   */
  wrap<T extends object>(
    name: string,
    network: T,
    method: keyof T & string,
    derived: readonly string[] = [],
  ): T {
    const clock = this;
    return new Proxy(network, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        if (typeof prop === "string" && derived.includes(prop)) {
          return (...args: unknown[]) => {
            const result = value.apply(target, args);
            return result && typeof result === "object" ? clock.wrap(name, result, method, derived) : result;
          };
        }
        if (prop !== method) return value.bind(target);
        return async (...args: never[]) => {
          const started = performance.now();
          try {
            return await (value as AsyncMethod).apply(target, args);
          } finally {
            const ended = performance.now();
            clock.add(name, ended - started);
            if (!clock.firstEnds.has(name)) clock.firstEnds.set(name, ended);
          }
        };
      },
    });
  }

  private add(name: string, ms: number): void {
    const t = this.totals.get(name) ?? { ms: 0, calls: 0 };
    t.ms += ms;
    t.calls++;
    this.totals.set(name, t);
  }

  /** When `name`'s first call ended, in ms since the process started; undefined before it ran. */
  firstEndMs(name: string): number | undefined {
    return this.firstEnds.get(name);
  }

  /** The totals since the last take, then starts counting afresh. */
  take(): Record<string, NetworkTime> {
    const out = Object.fromEntries([...this.totals].map(([k, v]) => [k, { ms: v.ms, calls: v.calls }]));
    this.totals = new Map();
    return out;
  }
}
