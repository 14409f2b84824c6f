/**
 * GET /sdapi/v1/progress: the running job's state in A1111's ProgressResponse shape
 * (modules/api/api.py progressapi): overall progress over the batch iterations, the relative
 * ETA from the time so far, shared.state's counters, the latest preview and a text line.
 */
import type { Job } from "./job-queue.js";

export interface A1111Progress {
  progress: number;
  eta_relative: number;
  state: {
    skipped: boolean;
    interrupted: boolean;
    stopping_generation: boolean;
    job: string;
    job_count: number;
    job_timestamp: string;
    job_no: number;
    sampling_step: number;
    sampling_steps: number;
  };
  current_image: string | null;
  textinfo: string | null;
  current_task: string | null;
}

function timestamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export function progressView<R>(
  job: Job<R> | undefined,
  now: number,
  options: { skipCurrentImage?: boolean } = {},
): A1111Progress {
  if (!job) {
    return {
      progress: 0,
      eta_relative: 0,
      state: {
        skipped: false,
        interrupted: false,
        stopping_generation: false,
        job: "",
        job_count: 0,
        job_timestamp: "0",
        job_no: 0,
        sampling_step: 0,
        sampling_steps: 0,
      },
      current_image: null,
      textinfo: null,
      current_task: null,
    };
  }
  const p = job.progress;
  let progress = 0;
  if (p.jobCount > 0) progress += p.jobNo / p.jobCount;
  if (p.samplingSteps > 0 && p.jobCount > 0) progress += p.samplingStep / p.samplingSteps / p.jobCount;
  progress = Math.min(progress, 1);
  const elapsed = (now - (job.startedAt ?? now)) / 1000;
  const eta = progress > 0 ? elapsed / progress - elapsed : 0;
  return {
    progress,
    eta_relative: eta,
    state: {
      skipped: p.skipped,
      interrupted: p.interrupted,
      stopping_generation: false,
      job: job.kind,
      job_count: p.jobCount,
      job_timestamp: timestamp(job.startedAt ?? job.createdAt),
      job_no: p.jobNo,
      sampling_step: p.samplingStep,
      sampling_steps: p.samplingSteps,
    },
    current_image: options.skipCurrentImage ? null : (p.currentImage ?? null),
    textinfo: p.textinfo ?? null,
    current_task: job.id,
  };
}

/** A1111's /internal/progress answer (modules/progress.py ProgressResponse). */
export interface A1111TaskProgress {
  active: boolean;
  queued: boolean;
  completed: boolean;
  progress: number | null;
  eta: number | null;
  live_preview: string | null;
  id_live_preview: number;
  textinfo: string | null;
}

/**
 * A1111's progressapi for one task: "In queue: 2/3" while it waits, its progress while it runs,
 * "Waiting..." for an id nobody knows (A1111's answer, e.g. before the request has arrived).
 */
export function taskProgress<R>(
  job: Job<R> | undefined,
  queue: { waiting: number; livePreview: boolean; now: number },
): A1111TaskProgress {
  const idle = { progress: null, eta: null, live_preview: null, id_live_preview: -1 };
  if (!job) return { active: false, queued: false, completed: false, ...idle, textinfo: "Waiting..." };
  if (job.status === "queued") {
    return {
      active: false,
      queued: true,
      completed: false,
      ...idle,
      textinfo: `In queue: ${job.position}/${queue.waiting}`,
    };
  }
  if (job.isFinal) return { active: false, queued: false, completed: true, ...idle, textinfo: null };
  const view = progressView(job, queue.now);
  const image = queue.livePreview ? job.progress.currentImage : undefined;
  return {
    active: true,
    queued: false,
    completed: false,
    progress: view.progress,
    eta: view.eta_relative,
    live_preview: image ? `data:image/png;base64,${image}` : null,
    id_live_preview: image ? job.progress.samplingStep : -1,
    textinfo: view.textinfo ?? "",
  };
}
