/**
 * "This device"'s model picker: a checkpoint dropped or chosen from disk (kept as the File: the
 * browser reads it lazily, never whole), or downloaded from a Hugging Face repo into OPFS with
 * progress, resumable (resumable-download.ts), and listed again on later visits. LoRA files
 * dropped beside it are listed with a weight each, textual-inversion embeddings (.safetensors, .pt,
 * .bin) by the name prompts use them by. Nothing here talks to the sdlite server.
 */
import { byId, el } from "../dom.js";
import {
  DEFAULT_HUB_ENDPOINT,
  downloadTarget,
  type HubDownloadTarget,
  type HubRepoRef,
  listingUrl,
  parseListing,
  parseRepoInput,
  pickCheckpoint,
} from "./hub-checkpoint.js";
import { entryNames, hasOpfs, opfsDirectory, removeIn } from "./opfs.js";
import {
  completedBlob,
  DEFAULT_CHUNK_BYTES,
  downloadFolderName,
  downloadResumable,
  readDownloadRecord,
  storedBytes,
} from "./resumable-download.js";
import { safetensorsKind } from "./safetensors-kind.js";

const ENDPOINT_KEY = "sdlite.hubEndpoint";
const REPO_KEY = "sdlite.hubRepo";
const FILE_KEY = "sdlite.hubFile";
const SELECTED_KEY = "sdlite.localModel";
/** A tuning knob (and the tests' way to get several parts out of a small file). */
const CHUNK_KEY = "sdlite.downloadChunkBytes";

export interface LocalCheckpoint {
  /** Stable while the model is the same ("file:name:size:mtime" or "hub:folder"). */
  id: string;
  label: string;
  blob: Blob;
  /**
   * A `<file>.sdlite.json` dropped with the checkpoint: what a single file cannot tell, as the
   * sidecar beside the file tells `sdlite generate` (src/weights/README.md).
   */
  overrides?: Record<string, unknown>;
}

/** A textual-inversion embedding file: prompts use it by its file name without the extension. */
export interface LocalEmbedding {
  file: Blob;
  fileName: string;
}

export interface LocalLora {
  name: string;
  file: Blob;
  weight: number;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} B`;
}

function getSetting(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function setSetting(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // storage disabled: settings last for the visit
  }
}

/** A sidecar's JSON object; anything else is refused with the reason. */
async function readSidecar(file: File): Promise<Record<string, unknown>> {
  const value: unknown = JSON.parse(await file.text());
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`${file.name}: a .sdlite.json sidecar holds one JSON object`);
  }
  return value as Record<string, unknown>;
}

/** The hub file `ref` names (or its checkpoint), pinned to the listing's commit: what downloadResumable takes. */
export async function hubDownloadTarget(
  endpoint: string,
  ref: HubRepoRef,
  signal: AbortSignal,
): Promise<HubDownloadTarget> {
  const response = await fetch(listingUrl(endpoint, ref), { signal });
  if (!response.ok) {
    throw new Error(
      response.status === 401 || response.status === 404
        ? `${ref.repo} was not found on ${endpoint} (or it is private or gated)`
        : `${endpoint} answered ${response.status} for the files of ${ref.repo}`,
    );
  }
  const listing = parseListing(await response.json(), ref.repo);
  return downloadTarget(endpoint, ref, listing, pickCheckpoint(listing, ref));
}

export const isAbort = (err: unknown) => err instanceof DOMException && err.name === "AbortError";

export class ModelSource {
  private readonly drop = byId("checkpoint-drop", HTMLLabelElement);
  private readonly fileInput = byId("checkpoint-file", HTMLInputElement);
  private readonly repo = byId("hub-repo", HTMLInputElement);
  private readonly file = byId("hub-file", HTMLInputElement);
  private readonly endpoint = byId("hub-endpoint", HTMLInputElement);
  private readonly downloadButton = byId("hub-download", HTMLButtonElement);
  private readonly stopButton = byId("hub-stop", HTMLButtonElement);
  private readonly progress = byId("download-progress", HTMLProgressElement);
  private readonly text = byId("download-text", HTMLDivElement);
  private readonly select = byId("local-model", HTMLSelectElement);
  private readonly deleteButton = byId("local-model-delete", HTMLButtonElement);
  private readonly loraList = byId("local-loras", HTMLDivElement);
  /** Files dropped this visit, by option value. */
  private readonly dropped = new Map<string, File>();
  /** `<file>.sdlite.json` sidecars dropped this visit, by the checkpoint file name they describe. */
  private readonly sidecars = new Map<string, Record<string, unknown>>();
  private readonly loras: { name: string; file: File; weight: HTMLInputElement; row: HTMLElement }[] = [];
  private readonly embeddings: { name: string; file: File; row: HTMLElement }[] = [];
  private download: AbortController | undefined;

  constructor(
    private readonly events: {
      onMessage(text: string): void;
      onError(err: unknown): void;
      /** The chosen checkpoint changed (its engine must be opened again). */
      onChange(): void;
      /** TAESD files were dropped or picked (taesd-source.ts keeps them). */
      onTaesd?(files: File[]): void;
    },
  ) {
    this.endpoint.value = getSetting(ENDPOINT_KEY) || DEFAULT_HUB_ENDPOINT;
    this.repo.value = getSetting(REPO_KEY) ?? "";
    this.file.value = getSetting(FILE_KEY) ?? "";
    this.endpoint.addEventListener("change", () => setSetting(ENDPOINT_KEY, this.endpoint.value.trim()));
    this.fileInput.addEventListener("change", () => {
      const files = [...(this.fileInput.files ?? [])];
      this.fileInput.value = "";
      void this.addFiles(files);
    });
    this.drop.addEventListener("dragover", (e) => {
      e.preventDefault();
      e.stopPropagation(); // a checkpoint dropped here is not a PNG to read parameters from
      this.drop.classList.add("dragging");
    });
    this.drop.addEventListener("dragleave", () => this.drop.classList.remove("dragging"));
    this.drop.addEventListener("drop", (e) => {
      e.preventDefault();
      e.stopPropagation();
      this.drop.classList.remove("dragging");
      void this.addFiles([...(e.dataTransfer?.files ?? [])]);
    });
    this.downloadButton.addEventListener("click", () => void this.startDownload());
    this.stopButton.addEventListener("click", () => this.download?.abort());
    this.select.addEventListener("change", () => {
      setSetting(SELECTED_KEY, this.select.value);
      this.showDelete();
      this.events.onChange();
    });
    this.deleteButton.addEventListener("click", () => void this.deleteSelected());
    for (const input of [this.repo, this.file]) {
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") {
          e.preventDefault(); // not the form's Generate
          void this.startDownload();
        }
      });
    }
  }

  /** Lists the checkpoints downloaded on earlier visits (and partial downloads, to resume). */
  async restore(): Promise<void> {
    await this.refreshList(getSetting(SELECTED_KEY) ?? undefined);
  }

  /** The checkpoint chosen in the picker, or undefined (with the reason shown) when there is none. */
  async current(): Promise<LocalCheckpoint | undefined> {
    const value = this.select.value;
    const label = this.select.selectedOptions[0]?.textContent ?? value;
    const dropped = this.dropped.get(value);
    if (dropped) {
      const overrides = this.sidecars.get(dropped.name);
      return { id: value, label: dropped.name, blob: dropped, ...(overrides ? { overrides } : {}) };
    }
    if (value.startsWith("hub:")) {
      const dir = await this.modelsDir();
      const blob = await completedBlob(await dir.getDirectoryHandle(value.slice(4)));
      if (blob) return { id: value, label, blob };
    }
    return undefined;
  }

  currentLoras(): LocalLora[] {
    return this.loras.map((l) => ({
      name: l.name,
      file: l.file,
      weight: Number.isFinite(Number(l.weight.value)) ? Number(l.weight.value) : 1,
    }));
  }

  currentEmbeddings(): LocalEmbedding[] {
    return this.embeddings.map((e) => ({ file: e.file, fileName: e.file.name }));
  }

  /** Sorts dropped/picked files into the checkpoint, the LoRAs and the embeddings by their headers. */
  async addFiles(files: File[]): Promise<void> {
    let checkpoint: string | undefined;
    const taesd: File[] = [];
    for (const file of files) {
      try {
        if (/\.safetensors\.sdlite\.json$/i.test(file.name)) {
          this.sidecars.set(file.name.slice(0, -".sdlite.json".length), await readSidecar(file));
          continue;
        }
        if (/\.(pt|bin)$/i.test(file.name)) {
          // torch.save files: textual-inversion embeddings (read by the engine when used)
          this.addEmbedding(file);
          continue;
        }
        if (!/\.safetensors$/i.test(file.name)) {
          throw new Error(
            `${file.name}: only .safetensors checkpoints and LoRAs, and .safetensors, .pt or .bin embeddings run in the browser`,
          );
        }
        const kind = await safetensorsKind(file);
        if (kind === "lora") {
          this.addLora(file);
        } else if (kind === "taesd" && this.events.onTaesd) {
          taesd.push(file);
        } else if (kind === "embedding") {
          this.addEmbedding(file);
        } else if (kind === "checkpoint") {
          checkpoint = `file:${file.name}:${file.size}:${file.lastModified}`;
          this.dropped.set(checkpoint, file);
        } else {
          throw new Error(
            `${file.name} holds neither a Stable Diffusion checkpoint, a LoRA, TAESD nor an embedding`,
          );
        }
      } catch (err) {
        this.events.onError(
          err instanceof Error && err.message.startsWith(file.name)
            ? err
            : new Error(`${file.name}: ${err instanceof Error ? err.message : String(err)}`),
        );
        return;
      }
    }
    if (taesd.length > 0) this.events.onTaesd?.(taesd);
    if (checkpoint) {
      await this.refreshList(checkpoint);
      this.events.onMessage(
        `Checkpoint: ${this.dropped.get(checkpoint)?.name} (${formatBytes(this.dropped.get(checkpoint)?.size ?? 0)}, read from your disk as needed)`,
      );
      this.events.onChange();
    } else if (this.loras.length > 0 || this.embeddings.length > 0) {
      this.events.onMessage(
        [
          this.loras.length > 0 ? `LoRA: ${this.loras.map((l) => l.name).join(", ")}` : "",
          this.embeddings.length > 0 ? `Embeddings: ${this.embeddings.map((e) => e.name).join(", ")}` : "",
        ]
          .filter(Boolean)
          .join("; "),
      );
    }
  }

  /** Listed by the word prompts use (A1111: the file name without extension); the same name again replaces it. */
  private addEmbedding(file: File): void {
    const name = file.name.replace(/\.(safetensors|pt|bin)$/i, "");
    const existing = this.embeddings.findIndex((e) => e.name === name);
    if (existing >= 0) this.embeddings.splice(existing, 1)[0].row.remove();
    const remove = el("button", { type: "button" }, ["Remove"]);
    const row = el("div", { class: "row", "data-embedding": name }, [
      el("span", {}, [`Embedding ${name} (write ${name} in a prompt)`]),
      remove,
    ]);
    const entry = { name, file, row };
    remove.addEventListener("click", () => {
      row.remove();
      this.embeddings.splice(this.embeddings.indexOf(entry), 1);
    });
    this.embeddings.push(entry);
    this.loraList.append(row);
  }

  private addLora(file: File): void {
    const name = file.name.replace(/\.safetensors$/i, "");
    const existing = this.loras.findIndex((l) => l.name === name);
    if (existing >= 0) this.loras.splice(existing, 1)[0].row.remove();
    const weight = el("input", {
      type: "number",
      step: "0.05",
      min: "-2",
      max: "2",
      value: "0.8",
      "aria-label": `Weight of ${name}`,
    });
    const remove = el("button", { type: "button" }, ["Remove"]);
    const row = el("div", { class: "row", "data-lora": name }, [
      el("span", {}, [`LoRA ${name}`]),
      weight,
      remove,
    ]);
    const entry = { name, file, weight, row };
    remove.addEventListener("click", () => {
      row.remove();
      this.loras.splice(this.loras.indexOf(entry), 1);
    });
    this.loras.push(entry);
    this.loraList.append(row);
  }

  private modelsDir(): Promise<FileSystemDirectoryHandle> {
    return opfsDirectory("sdlite", "models");
  }

  private async refreshList(select?: string): Promise<void> {
    const options: HTMLOptionElement[] = [];
    for (const [value, file] of this.dropped) {
      options.push(el("option", { value }, [`${file.name} (from disk, this visit)`]));
    }
    if (hasOpfs()) {
      const dir = await this.modelsDir();
      for (const name of await entryNames(dir)) {
        const folder = await dir.getDirectoryHandle(name);
        const record = await readDownloadRecord(folder);
        if (!record) continue;
        if (record.complete) {
          options.push(
            el("option", { value: `hub:${name}` }, [
              `${record.repo}/${record.path} (${formatBytes(record.size)})`,
            ]),
          );
        } else {
          const percent = Math.floor((100 * (await storedBytes(folder))) / record.size);
          options.push(
            el("option", { value: `hub:${name}`, disabled: "" }, [
              `${record.repo}/${record.path}: ${percent}% downloaded (Download resumes it)`,
            ]),
          );
        }
      }
    }
    if (options.length === 0)
      options.push(
        el("option", { value: "", disabled: "" }, ["No checkpoint yet: drop one or download one"]),
      );
    this.select.replaceChildren(...options);
    const wanted = options.find((o) => o.value === select && !o.disabled) ?? options.find((o) => !o.disabled);
    if (wanted) this.select.value = wanted.value;
    else this.select.selectedIndex = 0; // show the hint (or the partial download) rather than a blank box
    this.showDelete();
  }

  /** Delete is offered for downloads (a dropped file stays where it is on the user's disk). */
  private showDelete(): void {
    this.deleteButton.hidden = !this.select.value.startsWith("hub:");
  }

  private async deleteSelected(): Promise<void> {
    const value = this.select.value;
    if (!value.startsWith("hub:") || this.download) return;
    const label = this.select.selectedOptions[0]?.textContent ?? value;
    try {
      await removeIn(await this.modelsDir(), value.slice(4));
      this.events.onChange();
      await this.refreshList();
      this.events.onMessage(`Deleted ${label.replace(/ \([^)]*\)$/, "")} from this browser's storage`);
    } catch (err) {
      this.events.onError(err);
    }
  }

  private showProgress(done: number, total: number, text: string): void {
    this.progress.hidden = false;
    this.progress.max = Math.max(1, total);
    this.progress.value = done;
    this.text.textContent = text;
    this.text.className = "status";
  }

  private async startDownload(): Promise<void> {
    if (this.download) return;
    const controller = new AbortController();
    this.download = controller;
    this.downloadButton.disabled = true;
    this.stopButton.hidden = false;
    let label = this.repo.value.trim();
    try {
      if (!hasOpfs())
        throw new Error(
          "this browser has no origin private file system (OPFS) to download into; drop a file instead",
        );
      const endpoint = this.endpoint.value.trim() || DEFAULT_HUB_ENDPOINT;
      const ref = parseRepoInput(this.repo.value, this.file.value);
      setSetting(REPO_KEY, this.repo.value.trim());
      setSetting(FILE_KEY, this.file.value.trim());
      this.showProgress(0, 1, `Asking ${endpoint} for the files of ${ref.repo}…`);
      const target = await hubDownloadTarget(endpoint, ref, controller.signal);
      label = `${target.repo}/${target.path}`;
      const folderName = downloadFolderName(target.repo, target.path);
      const folder = await (await this.modelsDir()).getDirectoryHandle(folderName, { create: true });
      const chunkBytes = Number(getSetting(CHUNK_KEY)) || DEFAULT_CHUNK_BYTES;
      let started = performance.now();
      let startBytes = 0;
      await downloadResumable(folder, target, {
        signal: controller.signal,
        chunkBytes,
        onProgress: (p) => {
          if (p.phase === "verify") {
            this.showProgress(
              p.done,
              p.total,
              `Checking ${label} (SHA-256): ${formatBytes(p.done)} of ${formatBytes(p.total)}`,
            );
            return;
          }
          if (p.done === p.resumedFrom) {
            started = performance.now();
            startBytes = p.done;
          }
          const seconds = (performance.now() - started) / 1000;
          const rate = seconds > 0.5 ? ` · ${formatBytes((p.done - startBytes) / seconds)}/s` : "";
          const resumed = p.resumedFrom > 0 ? ` (resumed at ${formatBytes(p.resumedFrom)})` : "";
          this.showProgress(
            p.done,
            p.total,
            `Downloading ${label}: ${formatBytes(p.done)} of ${formatBytes(p.total)}${resumed}${rate}`,
          );
        },
      });
      this.text.textContent = `Downloaded ${label} (${formatBytes(target.size)}${target.sha256 ? ", SHA-256 checked" : ", size checked"})`;
      this.progress.hidden = true;
      await this.refreshList(`hub:${folderName}`);
      setSetting(SELECTED_KEY, `hub:${folderName}`);
      this.events.onChange();
    } catch (err) {
      if (controller.signal.aborted || isAbort(err)) {
        this.text.textContent = `Download of ${label} stopped; Download resumes it where it stopped`;
        this.text.className = "status";
      } else {
        this.text.textContent = err instanceof Error ? err.message : String(err);
        this.text.className = "status error";
      }
      await this.refreshList(this.select.value).catch(() => undefined);
    } finally {
      this.download = undefined;
      this.downloadButton.disabled = false;
      this.stopButton.hidden = true;
    }
  }
}
