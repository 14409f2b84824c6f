/**
 * `--taesd SPEC` → TAESD weights on disk. A path that exists is used as it is; a Hugging Face repo
 * id (`org/name[@revision]`, e.g. madebyollin/taesd) is fetched once into the HF cache as a
 * diffusers AutoencoderTiny folder (config.json + safetensors weights, a few MB), cache first like
 * the model: a cached snapshot makes no request, and offline (HF_HUB_OFFLINE) it is used as it is.
 */
import { existsSync } from "node:fs";
import { type DownloadProgress, HubError, type HubSettings, snapshotDownload } from "../hub/index.js";
import { ModelLoadError } from "../weights/model-load-error.js";
import { parseRepoSpec } from "./resolve-model.js";

/** The TAESD `--fast` uses when no --taesd is given: SD1.x's, in diffusers layout. */
export const DEFAULT_TAESD_REPO = "madebyollin/taesd";

/** What a diffusers AutoencoderTiny folder needs (its .bin twin and the README are not fetched). */
export const TAESD_HUB_FILES = ["config.json", "diffusion_pytorch_model.safetensors"] as const;

export interface ResolvedTaesd {
  /** Folder or file to open as TAESD. */
  readonly path: string;
  /** Set when the weights came from the hub. */
  readonly repo?: string;
  /** Hub weights: true when nothing had to be fetched. */
  readonly fromCache?: boolean;
}

export interface ResolveTaesdOptions {
  /** Called once before anything is fetched from the hub. */
  onHubLookup?: (repo: string, revision: string | undefined) => void;
  onDownloadProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Overrides of what the environment says about the hub (HF_ENDPOINT, HF_HUB_CACHE, …). */
  hubSettings?: Partial<HubSettings>;
}

export async function resolveTaesd(spec: string, options: ResolveTaesdOptions = {}): Promise<ResolvedTaesd> {
  if (existsSync(spec)) return { path: spec };
  const hub = parseRepoSpec(spec);
  if (!hub) throw new ModelLoadError("missing-file", spec, "no such file or folder (given as --taesd)");
  options.onHubLookup?.(hub.repo, hub.revision);
  let snapshot: Awaited<ReturnType<typeof snapshotDownload>>;
  try {
    snapshot = await snapshotDownload(hub.repo, {
      revision: hub.revision,
      allowPatterns: [...TAESD_HUB_FILES],
      signal: options.signal,
      settings: options.hubSettings,
      onProgress: options.onDownloadProgress,
    });
  } catch (err) {
    if (err instanceof HubError && ["unauthorized", "repo-not-found"].includes(err.code)) {
      throw new HubError(
        err.code,
        `--taesd "${spec}" is not a file or folder here, so it was looked up on the Hugging Face hub: ${err.message}`,
        err.status,
        { cause: err },
      );
    }
    throw err;
  }
  const missing = TAESD_HUB_FILES.filter((f) => !snapshot.files.includes(f));
  if (missing.length > 0) {
    throw new ModelLoadError(
      "missing-file",
      hub.repo,
      `--taesd: this Hugging Face repo is not a diffusers TAESD (AutoencoderTiny): it has no ${missing.join(" or ")}`,
    );
  }
  return { path: snapshot.dir, repo: hub.repo, fromCache: snapshot.fromCache };
}

/**
 * --fast's TAESD when no --taesd was given: DEFAULT_TAESD_REPO if it is cached or can be fetched,
 * else undefined after one note saying the full VAE decodes instead (the preset never fails a run
 * for want of TAESD; an explicit --taesd that cannot be had does).
 */
export async function fastPresetTaesd(
  options: ResolveTaesdOptions,
  note: (line: string) => void,
): Promise<ResolvedTaesd | undefined> {
  try {
    return await resolveTaesd(DEFAULT_TAESD_REPO, options);
  } catch (err) {
    if (options.signal?.aborted) throw err;
    const why = err instanceof Error ? err.message : String(err);
    note(`--fast: TAESD (${DEFAULT_TAESD_REPO}) could not be had, so the full VAE decodes instead: ${why}`);
    return undefined;
  }
}
