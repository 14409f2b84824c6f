/** Downloads what sdlite needs of a diffusers SD 1.x repo (see sd15-files.ts) into the Hugging Face cache. */
import { type Sd15FileOptions, selectSd15Files } from "./sd15-files.js";
import { type Snapshot, type SnapshotDownloadOptions, snapshotDownload } from "./snapshot-download.js";

export interface Sd15DownloadOptions
  extends Omit<SnapshotDownloadOptions, "selectFiles">,
    Omit<Sd15FileOptions, "modelIndex"> {}

export interface Sd15Snapshot extends Snapshot {
  /** Components for which no weights of the asked formats exist (e.g. an ONNX-only repo without `onnx`). */
  componentsWithoutWeights: string[];
}

export async function downloadSd15Pipeline(
  repo: string,
  options: Sd15DownloadOptions = {},
): Promise<Sd15Snapshot> {
  let componentsWithoutWeights: string[] = [];
  const snapshot = await snapshotDownload(repo, {
    ...options,
    selectFiles: (paths) => {
      const selection = selectSd15Files(paths, options);
      componentsWithoutWeights = selection.componentsWithoutWeights;
      return selection.files;
    },
  });
  return { ...snapshot, componentsWithoutWeights };
}
