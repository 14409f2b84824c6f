/** The graph cache's line ("Built graphs kept in OPFS: 3, 1.71 GB") and its "Clear cache" button. */
import { byId } from "../dom.js";
import type { ManagedGraphStore } from "./graph-store.js";
import { formatBytes } from "./model-source.js";

export class GraphCachePanel {
  private readonly text = byId("graph-cache-text", HTMLSpanElement);
  private readonly clearButton = byId("graph-cache-clear", HTMLButtonElement);

  constructor(
    private readonly store: Promise<ManagedGraphStore>,
    private readonly persisted: Promise<boolean>,
    events: { onMessage(text: string): void; onError(err: unknown): void; onCleared(): void },
  ) {
    this.clearButton.addEventListener("click", async () => {
      try {
        await (await this.store).clear();
        await this.refresh();
        events.onMessage("Cache cleared: the next generation builds its graphs again");
        events.onCleared();
      } catch (err) {
        events.onError(err);
      }
    });
  }

  async refresh(): Promise<void> {
    try {
      const store = await this.store;
      const entries = await store.entries();
      const bytes = entries.reduce((sum, e) => sum + e.bytes, 0);
      const kept = (await this.persisted) ? "" : " (the browser may evict it when short of space)";
      this.text.textContent = `Built graphs kept in ${store.kind}: ${entries.length}, ${formatBytes(bytes)}${kept}`;
      this.clearButton.disabled = entries.length === 0;
    } catch (err) {
      this.text.textContent = `No graph cache in this browser: ${err instanceof Error ? err.message : String(err)}`;
      this.clearButton.disabled = true;
    }
  }
}
