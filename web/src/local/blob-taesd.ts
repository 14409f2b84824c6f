/**
 * TAESD weights from Blobs (dropped files, or madebyollin/taesd downloaded from the hub), read as
 * `--taesd PATH` reads them in Node: the same checks and renames (src/weights/taesd-from-files.ts)
 * over BlobSafetensors. TAESD is small (a few MB), so its tensors are read whole, once.
 */
import type { TaesdConfig } from "../../../src/weights/architecture/model-config.js";
import type { OpenedComponent } from "../../../src/weights/component-from-files.js";
import { taesdFromFiles } from "../../../src/weights/taesd-from-files.js";
import { BlobSafetensors } from "./blob-safetensors.js";

/** What the graph store keys a TAESD file by: its name, size and lastModified (a File's). */
export type NamedBlob = Blob & { readonly name?: string; readonly lastModified?: number };

export interface TaesdBlobs {
  readonly component: OpenedComponent<TaesdConfig>;
  /** The component's file paths → their Blobs (graph keys name each file). */
  readonly files: ReadonlyMap<string, NamedBlob>;
}

/** Where a TAESD Blob's tensors come from, for errors and graph keys; never the checkpoint's name. */
export function taesdPath(blob: NamedBlob, index: number): string {
  return `taesd/${blob.name || `taesd-${index}.safetensors`}`;
}

export async function readTaesdBlobs(blobs: readonly NamedBlob[], signal?: AbortSignal): Promise<TaesdBlobs> {
  if (blobs.length === 0) throw new Error("no TAESD files given");
  const opened: BlobSafetensors[] = [];
  try {
    for (const [i, blob] of blobs.entries()) {
      const file = await BlobSafetensors.open(blob, taesdPath(blob, i));
      opened.push(file);
      await file.load(() => true, signal);
    }
  } catch (err) {
    for (const f of opened) f.close();
    throw err;
  }
  const component = taesdFromFiles(opened, opened.map((f) => f.path).join(", "));
  if (component.assumed.decoderBlockOutChannels !== undefined) {
    component.close();
    throw new Error(
      "the TAESD files hold no decoder, which previews need: give taesd_decoder.safetensors (madebyollin/taesd)",
    );
  }
  return { component, files: new Map(opened.map((f, i) => [f.path, blobs[i]])) };
}
