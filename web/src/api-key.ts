/**
 * The API key of a server started with `--api-key`: asked for once in a dialog when the server
 * answers 401 with a Bearer challenge, kept for the browser tab (sessionStorage), and sent as
 * `X-API-Key` (not `Authorization`, which a browser fills itself for basic auth).
 */
import { byId } from "./dom.js";

const STORAGE_KEY = "sdlite-api-key";

/** What the API client needs: the key to send, and a way to get a (new) one. */
export interface ApiKeyProvider {
  key(): string | undefined;
  /**
   * A key to retry with after `rejected` (the key just sent, if any) got 401, or undefined when the
   * user gave none. Requests that fail together share one dialog.
   */
  ask(rejected: string | undefined): Promise<string | undefined>;
}

export class ApiKeyDialog implements ApiKeyProvider {
  private readonly dialog = byId("api-key-dialog", HTMLDialogElement);
  private readonly input = byId("api-key", HTMLInputElement);
  private readonly message = byId("api-key-message", HTMLParagraphElement);
  private current: string | undefined;
  private pending: Promise<string | undefined> | undefined;

  constructor() {
    try {
      this.current = sessionStorage.getItem(STORAGE_KEY) ?? undefined;
    } catch {
      // storage disabled: the key lives as long as the page
    }
  }

  key(): string | undefined {
    return this.current;
  }

  ask(rejected: string | undefined): Promise<string | undefined> {
    // someone entered a new key since this request was sent: retry with it
    if (this.current !== undefined && this.current !== rejected) return Promise.resolve(this.current);
    this.pending ??= this.open(rejected !== undefined).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private open(wrongKey: boolean): Promise<string | undefined> {
    this.message.textContent = wrongKey
      ? "The server refused that key. Enter the key the server was started with (--api-key)."
      : "This server needs its API key (--api-key).";
    this.input.value = "";
    return new Promise((resolve) => {
      this.dialog.addEventListener(
        "close",
        () => {
          const key = this.dialog.returnValue === "connect" ? this.input.value.trim() : "";
          if (key) this.store(key);
          resolve(key || undefined);
        },
        { once: true },
      );
      this.dialog.returnValue = "";
      this.dialog.showModal();
      this.input.focus();
    });
  }

  private store(key: string): void {
    this.current = key;
    try {
      sessionStorage.setItem(STORAGE_KEY, key);
    } catch {
      // see the constructor
    }
  }
}
