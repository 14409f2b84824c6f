/**
 * Per-caller rate limits on new jobs: at most `perMinute` in any minute (a fixed one-minute window
 * per caller key). A refused request is answered 429 with Retry-After: the seconds until the
 * window ends. In-process here; src/queue/redis-rate-limiter.ts counts in Redis, so every API
 * process behind one balancer shares the count.
 */

export interface RateDecision {
  readonly allowed: boolean;
  /** Seconds until the caller may send again (when refused). */
  readonly retryAfterSeconds: number;
}

export interface RateLimiter {
  readonly perMinute: number;
  take(key: string): RateDecision | Promise<RateDecision>;
}

export const WINDOW_MS = 60_000;

export class MemoryRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(perMinute) || perMinute < 1) {
      throw new RangeError(`a rate limit must be a positive integer per minute, got ${perMinute}`);
    }
  }

  take(key: string): RateDecision {
    const now = this.now();
    let w = this.windows.get(key);
    if (!w || now - w.start >= WINDOW_MS) {
      w = { start: now, count: 0 };
      this.windows.set(key, w);
      if (this.windows.size > 10_000) this.prune(now);
    }
    const retryAfterSeconds = Math.max(1, Math.ceil((w.start + WINDOW_MS - now) / 1000));
    if (w.count >= this.perMinute) return { allowed: false, retryAfterSeconds };
    w.count++;
    return { allowed: true, retryAfterSeconds: 0 };
  }

  private prune(now: number): void {
    for (const [key, w] of this.windows) if (now - w.start >= WINDOW_MS) this.windows.delete(key);
  }
}
