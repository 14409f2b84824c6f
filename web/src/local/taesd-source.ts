/**
 * "This device"'s TAESD, which gives live previews (as the server's `--taesd` does): files dropped
 * or picked with the checkpoint (sorted here by model-source.ts), or madebyollin/taesd's decoder
 * downloaded from the hub with the checkpoint's resumable download into OPFS `sdlite/taesd/`, kept
 * for later visits. Without one the line says previews are off and how to turn them on.
 */
import { DEFAULT_PREVIEW_EVERY } from "../../../src/server/live-preview.js";
import { MADEBYOLLIN_TAESD_FILES } from "../../../src/weights/key-maps/taesd-key-map.js";
import { byId } from "../dom.js";
import { DEFAULT_HUB_ENDPOINT } from "./hub-checkpoint.js";
import { formatBytes, hubDownloadTarget, isAbort } from "./model-source.js";
import { hasOpfs, isNotFound, opfsDirectory, removeIn } from "./opfs.js";
import {
  completedBlob,
  DEFAULT_CHUNK_BYTES,
  downloadFolderName,
  downloadResumable,
  readDownloadRecord,
} from "./resumable-download.js";

/** The hub's TAESD for SD1.x: madebyollin's decoder file, all previews need. */
export const TAESD_REPO = "madebyollin/taesd";
export const TAESD_DECODER_FILE = MADEBYOLLIN_TAESD_FILES[1];

export interface LocalTaesd {
  /** Stable while the files are the same (the engine is reopened when it changes). */
  id: string;
  label: string;
  /** Named (graph keys use the name, size and lastModified). */
  blobs: File[];
  /** TAESD as the final decoder too (the engine's `decoder: "taesd"`, as `--decoder taesd`). */
  decode: boolean;
}

export class TaesdSource {
  private readonly line = byId("local-taesd", HTMLSpanElement);
  private readonly downloadButton = byId("taesd-download", HTMLButtonElement);
  private readonly removeButton = byId("taesd-remove", HTMLButtonElement);
  private readonly decodeField = byId("taesd-decode-field", HTMLLabelElement);
  private readonly decodeBox = byId("taesd-decode", HTMLInputElement);
  private readonly endpoint = byId("hub-endpoint", HTMLInputElement);
  /** Files dropped this visit, by name (a newer one of the same name replaces it). */
  private readonly dropped = new Map<string, File>();
  private stored: File | undefined;
  private download: AbortController | undefined;

  constructor(
    private readonly events: {
      onMessage(text: string): void;
      /** The TAESD changed: the engine must be opened again. */
      onChange(): void;
    },
  ) {
    this.downloadButton.addEventListener("click", () => void this.startDownload());
    this.removeButton.addEventListener("click", () => void this.remove());
    this.decodeBox.addEventListener("change", () => this.events.onChange());
    this.show();
  }

  /** The decoder downloaded on an earlier visit, if any. */
  async restore(): Promise<void> {
    if (!hasOpfs()) return;
    let folder: FileSystemDirectoryHandle;
    try {
      folder = await (await this.dir()).getDirectoryHandle(this.folderName());
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    const [blob, record] = [await completedBlob(folder), await readDownloadRecord(folder)];
    // named and dated by the commit it came from, so its graphs keep their keys across visits
    if (blob && record) this.stored = new File([blob], TAESD_DECODER_FILE, { lastModified: 0 });
    this.show();
  }

  addFiles(files: File[]): void {
    for (const f of files) this.dropped.set(f.name, f);
    this.show();
    this.events.onMessage(`TAESD: ${[...this.dropped.keys()].join(", ")} (live previews)`);
    this.events.onChange();
  }

  /** What the engine gets: the dropped files, else the download; undefined: previews off. */
  current(): LocalTaesd | undefined {
    const decode = this.decodeBox.checked;
    const as = decode ? ":decode" : "";
    if (this.dropped.size > 0) {
      const blobs = [...this.dropped.values()];
      return {
        id: `file:${blobs.map((b) => `${b.name}:${b.size}:${b.lastModified}`).join("|")}${as}`,
        label: blobs.map((b) => b.name).join(", "),
        blobs,
        decode,
      };
    }
    if (this.stored) {
      return {
        id: `hub:${this.folderName()}${as}`,
        label: `${TAESD_REPO}/${TAESD_DECODER_FILE}`,
        blobs: [this.stored],
        decode,
      };
    }
    return undefined;
  }

  private show(text?: string): void {
    const taesd = this.current();
    this.line.textContent =
      text ??
      (taesd
        ? `TAESD: ${taesd.label} · live previews every ${DEFAULT_PREVIEW_EVERY.taesd} steps`
        : `No TAESD: live previews are off. Drop ${TAESD_DECODER_FILE} (${TAESD_REPO}) above, or download it`);
    this.downloadButton.hidden = taesd !== undefined || this.download !== undefined;
    this.removeButton.hidden = taesd === undefined;
    this.decodeField.hidden = taesd === undefined;
  }

  private dir(): Promise<FileSystemDirectoryHandle> {
    return opfsDirectory("sdlite", "taesd");
  }

  private folderName(): string {
    return downloadFolderName(TAESD_REPO, TAESD_DECODER_FILE);
  }

  /** Forgets the dropped files and deletes the download: previews off. */
  private async remove(): Promise<void> {
    this.download?.abort();
    this.dropped.clear();
    if (this.stored) {
      this.stored = undefined;
      await removeIn(await this.dir(), this.folderName()).catch(() => undefined);
    }
    this.show();
    this.events.onChange();
  }

  private async startDownload(): Promise<void> {
    if (this.download) return;
    const controller = new AbortController();
    this.download = controller;
    this.show(`Asking the hub for ${TAESD_REPO}…`);
    try {
      if (!hasOpfs())
        throw new Error("this browser has no origin private file system (OPFS) to download into");
      const endpoint = this.endpoint.value.trim() || DEFAULT_HUB_ENDPOINT;
      const ref = { repo: TAESD_REPO, revision: "main", file: TAESD_DECODER_FILE };
      const target = await hubDownloadTarget(endpoint, ref, controller.signal);
      const folder = await (await this.dir()).getDirectoryHandle(this.folderName(), { create: true });
      await downloadResumable(folder, target, {
        signal: controller.signal,
        chunkBytes: DEFAULT_CHUNK_BYTES,
        onProgress: (p) =>
          this.show(
            `${p.phase === "verify" ? "Checking" : "Downloading"} ${TAESD_REPO}/${TAESD_DECODER_FILE}: ${formatBytes(p.done)} of ${formatBytes(p.total)}`,
          ),
      });
      this.download = undefined;
      await this.restore();
      this.events.onMessage(`Downloaded ${TAESD_REPO}/${TAESD_DECODER_FILE}: live previews are on`);
      this.events.onChange();
    } catch (err) {
      this.download = undefined;
      this.show(
        controller.signal.aborted || isAbort(err)
          ? `Download of ${TAESD_REPO} stopped; Download TAESD resumes it`
          : `TAESD download failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    } finally {
      this.download = undefined;
    }
  }
}
