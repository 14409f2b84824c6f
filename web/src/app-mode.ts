/**
 * Where images are made: "local" (This device: the in-tab engine, web/src/local/) or "server" (the
 * A1111 API of the server that serves the page). The choice is kept in localStorage; with none kept,
 * the page asks the server and starts in "local" when no API answers (a static host). body[data-mode]
 * shows one mode's controls (styles.css: .local-only / .server-only).
 */
import { byId } from "./dom.js";

export type AppMode = "server" | "local";
export const MODE_STORAGE_KEY = "sdlite.mode";

export function storedMode(): AppMode | undefined {
  try {
    const value = localStorage.getItem(MODE_STORAGE_KEY);
    return value === "local" || value === "server" ? value : undefined;
  } catch {
    return undefined; // storage disabled: the choice lasts for the visit
  }
}

function storeMode(mode: AppMode): void {
  try {
    localStorage.setItem(MODE_STORAGE_KEY, mode);
  } catch {
    // see storedMode
  }
}

export class ModeSwitch {
  private readonly local = byId("mode-local", HTMLInputElement);
  private readonly server = byId("mode-server", HTMLInputElement);
  private current: AppMode | undefined;

  /** `onChange` runs for every mode entered, the first one included. */
  constructor(private readonly onChange: (mode: AppMode) => void) {
    for (const input of [this.local, this.server]) {
      input.addEventListener("change", () => {
        if (input.checked) this.set(input === this.local ? "local" : "server", { remember: true });
      });
    }
  }

  get mode(): AppMode | undefined {
    return this.current;
  }

  /** `remember`: the user chose it (kept for the next visit); the page's own fallback is not kept. */
  set(mode: AppMode, { remember = false } = {}): void {
    if (remember) storeMode(mode);
    (mode === "local" ? this.local : this.server).checked = true;
    if (mode === this.current) return;
    this.current = mode;
    document.body.dataset.mode = mode;
    this.onChange(mode);
  }

  set disabled(value: boolean) {
    this.local.disabled = value;
    this.server.disabled = value;
  }
}
