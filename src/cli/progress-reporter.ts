/**
 * What `sdlite generate` shows while it works, always on stderr (stdout is for results): a
 * cli-progress bar on a terminal (stage, step/total, it/s, ETA), plain lines otherwise
 * (`step 3/8, 2.41 it/s, ETA 2.1s`), so logs and pipes stay readable.
 */
import cliProgress from "cli-progress";
import type { DownloadProgress } from "../hub/index.js";
import type { GenerationProgress, Stage } from "../pipeline/generate.js";
import { formatBytes, formatDuration, formatRate } from "./format.js";

export interface ProgressReporter {
  /** A step without progress of its own ("loading model …"). */
  phase(label: string): void;
  download(progress: DownloadProgress): void;
  generation(progress: GenerationProgress): void;
  /** Information for the person watching (warnings, the random seed). */
  note(line: string): void;
  /** Ends any bar; call once, also on errors. */
  finish(): void;
}

const STAGE_LABELS: Record<Stage, string> = {
  "encode-prompt": "encoding prompt",
  "encode-image": "encoding init image",
  denoise: "denoising",
  decode: "decoding",
};

/** Which batch a stage belongs to; the prompt is encoded once for all of them. */
function batchSuffix(p: GenerationProgress): string {
  return p.batchCount > 1 && p.stage !== "encode-prompt"
    ? ` (batch ${p.batchIndex + 1}/${p.batchCount})`
    : "";
}

/** Seconds left in the denoising of all batches at the current rate. */
function etaMs(p: GenerationProgress, stepsPerSecond: number): number | undefined {
  if (stepsPerSecond <= 0) return undefined;
  const left = p.totalSteps - p.step + (p.batchCount - 1 - p.batchIndex) * p.totalSteps;
  return (left / stepsPerSecond) * 1000;
}

/**
 * Files really being fetched: the hub also reports files that were already cached (as complete at
 * once), which must not look like a download.
 */
class DownloadWatch {
  private readonly fetching = new Set<string>();

  /** True when this event belongs to a download in progress. */
  isDownload(p: DownloadProgress): boolean {
    if (p.fileBytes < p.fileTotal) this.fetching.add(p.file);
    return this.fetching.has(p.file);
  }
}

export function createProgressReporter(
  stream: NodeJS.WriteStream,
  stepsPerSecond: () => number,
): ProgressReporter {
  return stream.isTTY ? new BarReporter(stream, stepsPerSecond) : new LineReporter(stream, stepsPerSecond);
}

export class LineReporter implements ProgressReporter {
  private readonly downloads = new DownloadWatch();
  private lastDecile = -1;
  private lastTotal = -1;
  private lastStage: string | undefined;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly stepsPerSecond: () => number,
  ) {}

  private line(text: string): void {
    this.out.write(`${text}\n`);
  }

  phase(label: string): void {
    this.lastStage = undefined;
    this.line(label);
  }

  download(p: DownloadProgress): void {
    if (!this.downloads.isDownload(p) || p.total <= 0) return;
    if (p.total !== this.lastTotal) {
      this.lastTotal = p.total;
      this.lastDecile = -1;
    }
    const decile = Math.floor((p.bytes / p.total) * 10);
    if (decile <= this.lastDecile) return;
    this.lastDecile = decile;
    const pct = Math.floor((p.bytes / p.total) * 100);
    this.line(`download ${pct}% (${formatBytes(p.bytes)} of ${formatBytes(p.total)}) ${p.file}`);
  }

  generation(p: GenerationProgress): void {
    if (p.stage !== "denoise") {
      const label = STAGE_LABELS[p.stage] + batchSuffix(p);
      if (label !== this.lastStage) this.line(label);
      this.lastStage = label;
      return;
    }
    this.lastStage = undefined;
    const rate = this.stepsPerSecond();
    const eta = etaMs(p, rate);
    this.line(
      `step ${p.step}/${p.totalSteps}${batchSuffix(p)}, ${formatRate(rate)}` +
        (eta === undefined ? "" : `, ETA ${formatDuration(eta)}`),
    );
  }

  note(line: string): void {
    this.line(line);
  }

  finish(): void {}
}

export class BarReporter implements ProgressReporter {
  private readonly downloads = new DownloadWatch();
  private bar: cliProgress.SingleBar | undefined;
  private barKind: "download" | "steps" | undefined;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly stepsPerSecond: () => number,
  ) {}

  private stopBar(): void {
    this.bar?.stop();
    this.bar = undefined;
    this.barKind = undefined;
  }

  private startBar(kind: "download" | "steps", format: string, total: number, payload: object): void {
    this.stopBar();
    this.bar = new cliProgress.SingleBar(
      { format, stream: this.out, hideCursor: true, barsize: 30, fps: 10 },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total, 0, payload);
    this.barKind = kind;
  }

  phase(label: string): void {
    this.stopBar();
    this.out.write(`${label}\n`);
  }

  download(p: DownloadProgress): void {
    if (!this.downloads.isDownload(p) || p.total <= 0) return;
    const payload = { file: p.file, done: formatBytes(p.bytes), size: formatBytes(p.total) };
    if (this.barKind !== "download") {
      this.startBar(
        "download",
        "download |{bar}| {percentage}% | {done} of {size} | ETA {eta_formatted} | {file}",
        p.total,
        payload,
      );
    }
    this.bar!.setTotal(p.total);
    this.bar!.update(p.bytes, payload);
  }

  generation(p: GenerationProgress): void {
    const stage = STAGE_LABELS[p.stage] + batchSuffix(p);
    if (p.stage !== "denoise") {
      if (this.barKind === "steps") this.bar!.update({ stage });
      else this.phase(stage);
      return;
    }
    const rate = this.stepsPerSecond();
    const eta = etaMs(p, rate);
    // "eta" is a cli-progress placeholder of its own (whole seconds): ours is "remaining"
    const payload = {
      stage,
      rate: formatRate(rate),
      remaining: eta === undefined ? "--" : formatDuration(eta),
    };
    const total = p.totalSteps * p.batchCount;
    if (this.barKind !== "steps") {
      this.startBar(
        "steps",
        "{stage} |{bar}| {value}/{total} steps | {rate} | ETA {remaining}",
        total,
        payload,
      );
    }
    this.bar!.update(p.batchIndex * p.totalSteps + p.step, payload);
  }

  note(line: string): void {
    this.stopBar();
    this.out.write(`${line}\n`);
  }

  finish(): void {
    this.stopBar();
  }
}
