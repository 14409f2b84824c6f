/**
 * The optional webhook of a job: when it ends, its id, state and result (or error) are POSTed as
 * JSON to the URL the client gave. Once, without following redirects, given 10 s; a failure is a
 * log line, never the job's failure.
 */

import { invalidRequest } from "./http-error.js";
import type { Job } from "./job-queue.js";

const TIMEOUT_MS = 10_000;

/** The webhook field of a job request: an http(s) URL, or nothing. */
export function checkedWebhook(value: unknown): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  let url: URL | undefined;
  try {
    url = typeof value === "string" ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw invalidRequest(`webhook must be an http or https URL, got ${JSON.stringify(value)}`);
  }
  return url.href;
}

export async function postWebhook<R>(url: string, job: Job<R>, log: (line: string) => void): Promise<void> {
  const body = {
    id: job.id,
    state: job.status === "done" ? "completed" : job.status,
    ...(job.status === "done" ? { result: job.result } : { error: job.error?.message ?? null }),
  };
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      redirect: "manual",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    await response.body?.cancel();
    if (!response.ok) log(`job ${job.id}: webhook ${url} answered ${response.status}`);
  } catch (err) {
    log(`job ${job.id}: webhook ${url} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}
