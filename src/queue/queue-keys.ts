/**
 * Names on Redis, in one place: the BullMQ queue of each route (one per model, so a worker only
 * takes jobs for models it has), job ids as BullMQ takes them, and sdlite's own keys and channels
 * beside BullMQ's (all under one prefix).
 */
import { createHash } from "node:crypto";

export const PREFIX = "sdlite";
/** The set of routes (model names) jobs were ever queued for. */
export const ROUTES_KEY = `${PREFIX}:routes`;
/** Hash: worker id → its announcement (worker-registry.ts). */
export const WORKERS_KEY = `${PREFIX}:workers`;
/** Worker → API: a job's start, steps and previews. */
export const EVENTS_CHANNEL = `${PREFIX}:events`;
/** API → workers: cancel, interrupt or skip a job. */
export const CONTROL_CHANNEL = `${PREFIX}:control`;
/** Set when a job is cancelled: a worker that takes it later (or again) drops it. */
export const cancelKey = (id: string) => `${PREFIX}:cancelled:${id}`;
/** A fixed one-minute window of a caller's jobs (redis-rate-limiter.ts). */
export const rateKey = (caller: string, window: number) => `${PREFIX}:rate:${caller}:${window}`;

/**
 * The BullMQ queue of a route: readable, without the ':' BullMQ refuses, and distinct for names
 * that read alike (a short hash of the name).
 */
export function queueName(route: string): string {
  const readable = route.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 48);
  const hash = createHash("sha256").update(route).digest("hex").slice(0, 8);
  return `gen-${readable}-${hash}`;
}

/** BullMQ refuses ids with ':' and ids that are integers; sdlite's ids (A1111's force_task_id) may be either. */
export function bullId(id: string): string {
  return `j-${id.replace(/%/g, "%25").replace(/:/g, "%3A")}`;
}

export function sdliteId(bull: string): string {
  return bull.slice(2).replace(/%3A/g, ":").replace(/%25/g, "%");
}
