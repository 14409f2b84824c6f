/**
 * Workers announce themselves in one Redis hash (worker-id → JSON): host, pid, the models they
 * have, their device, the job they run, and when they were last seen. Each rewrites its entry
 * every heartbeat; the admin endpoint lists entries seen within three heartbeats and deletes older
 * ones (a worker killed without a goodbye). BullMQ's job locks are the per-job heartbeat.
 */
import type { Redis } from "ioredis";
import type { WorkerView } from "../server/server-queue.js";
import { WORKERS_KEY } from "./queue-keys.js";

export const HEARTBEAT_MS = 5_000;

export async function announceWorker(redis: Redis, view: WorkerView): Promise<void> {
  await redis.hset(WORKERS_KEY, view.id, JSON.stringify(view));
}

export async function retireWorker(redis: Redis, id: string): Promise<void> {
  await redis.hdel(WORKERS_KEY, id);
}

/** The live workers; entries silent for three heartbeats are removed. */
export async function liveWorkers(redis: Redis, now = Date.now()): Promise<WorkerView[]> {
  const all = await redis.hgetall(WORKERS_KEY);
  const live: WorkerView[] = [];
  const dead: string[] = [];
  for (const [id, text] of Object.entries(all)) {
    let view: WorkerView | undefined;
    try {
      view = JSON.parse(text) as WorkerView;
    } catch {
      view = undefined;
    }
    if (view && now - Date.parse(view.last_seen) <= 3 * HEARTBEAT_MS) live.push(view);
    else dead.push(id);
  }
  if (dead.length > 0) await redis.hdel(WORKERS_KEY, ...dead);
  return live.sort((a, b) => a.id.localeCompare(b.id));
}
