/**
 * What travels on Redis: a job's data (the RemoteGeneration, JSON) with its id and route, the
 * events a worker publishes while it runs, the control messages it listens to, and errors as
 * text that keeps their HTTP status (BullMQ keeps a failure as a message only).
 */

import { HttpError } from "../server/http-error.js";
import { JobCancelledError, type JobProgress } from "../server/job-queue.js";
import type { RemoteGeneration } from "../server/remote-generation.js";

export interface QueuedJob {
  readonly id: string;
  readonly route: string;
  readonly kind: string;
  readonly generation: RemoteGeneration;
}

/** Worker → API. */
export interface WorkerEvent {
  readonly id: string;
  readonly worker: string;
  readonly type: "started" | "step" | "preview";
  readonly step?: number;
  readonly total?: number;
  readonly image?: string;
  readonly progress: Omit<JobProgress, "currentImage">;
}

/** API → workers. */
export interface ControlMessage {
  readonly id: string;
  readonly action: "cancel" | "interrupt" | "skip";
  readonly reason?: string;
}

const ERROR_MARK = "sdlite-error:";

interface ErrorText {
  status: number;
  kind: string;
  message: string;
  cancelled?: string;
}

/** An error as a worker fails a job with it. */
export function errorText(error: ErrorText): string {
  return ERROR_MARK + JSON.stringify(error);
}

/** The error a failed job's reason stands for: a cancellation, an HttpError, or the text as it is. */
export function errorFromText(reason: string): Error {
  if (reason.startsWith(ERROR_MARK)) {
    try {
      const e = JSON.parse(reason.slice(ERROR_MARK.length)) as ErrorText;
      if (e.cancelled !== undefined) return new JobCancelledError(e.cancelled);
      return new HttpError(e.status, e.message, e.kind);
    } catch {
      // not ours after all
    }
  }
  return new Error(reason);
}
