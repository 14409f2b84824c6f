/**
 * The per-caller rate limit counted in Redis (INCR on a key per caller and minute, expiring with
 * the minute), so every API process in front of the same Redis shares one count. Fails open: with
 * Redis away, jobs are refused anyway (503) and the limit is not what stops them.
 */
import type { Redis } from "ioredis";
import { type RateDecision, type RateLimiter, WINDOW_MS } from "../server/rate-limit.js";
import { rateKey } from "./queue-keys.js";

export class RedisRateLimiter implements RateLimiter {
  constructor(
    private readonly redis: Redis,
    readonly perMinute: number,
  ) {
    if (!Number.isInteger(perMinute) || perMinute < 1) {
      throw new RangeError(`a rate limit must be a positive integer per minute, got ${perMinute}`);
    }
  }

  async take(caller: string): Promise<RateDecision> {
    const now = Date.now();
    const window = Math.floor(now / WINDOW_MS);
    const retryAfterSeconds = Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - now) / 1000));
    try {
      const key = rateKey(caller, window);
      const [[, count]] = (await this.redis.multi().incr(key).pexpire(key, WINDOW_MS).exec()) as [
        [Error | null, number],
      ];
      return count > this.perMinute
        ? { allowed: false, retryAfterSeconds }
        : { allowed: true, retryAfterSeconds: 0 };
    } catch {
      return { allowed: true, retryAfterSeconds: 0 };
    }
  }
}
