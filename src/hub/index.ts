/** Hugging Face hub downloads into the shared cache, and what is on disk. */
export { type CachedRepo, type LocalModel, scanHubCache, scanModelsFolder } from "./cache-scan.js";
export {
  type DownloadedFile,
  type DownloadFileOptions,
  type DownloadProgress,
  downloadFile,
} from "./download-file.js";
export { filterRepoFiles } from "./file-patterns.js";
export { HubError, type HubErrorCode } from "./hub-error.js";
export { type HubSettings, resolveHubSettings, sdliteModelsDir } from "./hub-settings.js";
export { describeCheckpointFile, describePipelineFolder, type ModelLooks } from "./model-kind.js";
export { downloadSd15Pipeline, type Sd15DownloadOptions, type Sd15Snapshot } from "./sd15-download.js";
export { type Sd15FileOptions, selectSd15Files } from "./sd15-files.js";
export { type Snapshot, type SnapshotDownloadOptions, snapshotDownload } from "./snapshot-download.js";
