/**
 * Progress while a request runs: polls GET /sdapi/v1/progress every ~500 ms (the only way A1111
 * reports it) and shows a bar, step counter, ETA and the live preview (current_image).
 */
import type { A1111Client, ProgressResponse } from "./api.js";
import { byId } from "./dom.js";
import { pngDataUrl } from "./image-data.js";

export const POLL_INTERVAL_MS = 500;

export function describeProgress(p: ProgressResponse): string {
  const step = p.state?.sampling_step ?? 0;
  const steps = p.state?.sampling_steps ?? 0;
  const parts: string[] = [];
  if ((p.state?.job_count ?? 0) > 1) parts.push(`Batch ${(p.state.job_no ?? 0) + 1}/${p.state.job_count}`);
  if (steps > 0) parts.push(`Step ${step}/${steps}`);
  parts.push(`${Math.round(Math.min(1, Math.max(0, p.progress)) * 100)}%`);
  if (p.eta_relative > 0 && p.progress > 0) parts.push(`ETA ${Math.ceil(p.eta_relative)} s`);
  if (parts.length === 1 && p.textinfo) parts.push(p.textinfo);
  return parts.join(" · ");
}

export class ProgressMonitor {
  private readonly box = byId("progress", HTMLDivElement);
  private readonly bar = byId("progress-bar", HTMLDivElement);
  private readonly fill = byId("progress-fill", HTMLDivElement);
  private readonly text = byId("progress-text", HTMLDivElement);
  private readonly preview = byId("preview", HTMLImageElement);
  private timer: number | undefined;
  private running = false;

  constructor(private readonly api: A1111Client) {}

  start(): void {
    this.running = true;
    this.show(0, "Starting…");
    this.preview.hidden = true;
    this.preview.removeAttribute("src");
    this.box.hidden = false;
    this.schedule();
  }

  /** Shows the bar without polling the server: "This device" mode reports its own steps (update). */
  startLocal(): void {
    this.running = false;
    this.show(0, "Starting…");
    this.preview.hidden = true;
    this.preview.removeAttribute("src");
    this.box.hidden = false;
  }

  update(fraction: number, text: string): void {
    this.show(fraction, text);
  }

  /** A live preview (base64 PNG), as the server's `current_image` is shown; "This device" hands its own. */
  showPreview(base64Png: string): void {
    this.preview.src = pngDataUrl(base64Png);
    this.preview.hidden = false;
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.box.hidden = true;
  }

  private schedule(): void {
    // one request at a time: the next poll is scheduled only when the previous one answered
    this.timer = window.setTimeout(() => void this.poll(), POLL_INTERVAL_MS);
  }

  private async poll(): Promise<void> {
    try {
      const p = await this.api.progress();
      if (!this.running) return;
      this.show(p.progress, describeProgress(p));
      if (p.current_image) this.showPreview(p.current_image);
    } catch {
      // a missed poll is not worth an error: the generation request reports real failures
    }
    if (this.running) this.schedule();
  }

  private show(fraction: number, text: string): void {
    const percent = Math.round(Math.min(1, Math.max(0, fraction)) * 100);
    this.fill.style.width = `${percent}%`;
    this.bar.setAttribute("aria-valuenow", String(percent));
    this.text.textContent = text;
  }
}
