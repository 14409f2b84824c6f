/** The `--queue redis://…` URL: checked, its ioredis options, and shown without a password. */
import type { RedisOptions } from "ioredis";

export function checkedRedisUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`--queue must be a redis:// URL (redis://host:port), got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new Error(`--queue must be a redis:// or rediss:// URL, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** The URL with its password left out, for messages and logs. */
export function safeUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = "***";
    return url.href.replace(/\/$/, "");
  } catch {
    return "(bad URL)";
  }
}

/** Reconnect for ever, at most every 2 s; every process here outlives a Redis restart. */
export function redisOptions(): RedisOptions {
  return { retryStrategy: (times) => Math.min(100 * times, 2000), lazyConnect: false };
}
