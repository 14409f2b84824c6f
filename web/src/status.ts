/** One status line under the Generate button: progress words, confirmations and errors. */
import { byId } from "./dom.js";

export class StatusLine {
  private readonly line = byId("status", HTMLDivElement);

  info(text: string): void {
    this.line.textContent = text;
    this.line.className = "status";
  }

  error(err: unknown): void {
    const text = err instanceof Error ? err.message : String(err);
    this.line.textContent = text;
    this.line.className = "status error";
  }

  clear(): void {
    this.info("");
  }
}
