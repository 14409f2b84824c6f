/**
 * `-m MODEL` → a model on disk. A path that exists is used as it is; something shaped like a
 * Hugging Face repo id (`org/name`, optionally `org/name@revision`) is downloaded into the shared
 * HF cache (cache first: a cached snapshot makes no request); no `-m` at all means the default
 * few-step model. Each model comes with the settings it is meant to be run with.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import {
  type DownloadProgress,
  downloadSd15Pipeline,
  HubError,
  type HubSettings,
  snapshotDownload,
} from "../hub/index.js";
import { defaultsForModel, GENERIC_DEFAULTS, type ModelDefaults } from "../pipeline/model-defaults.js";
import type { ArchitectureOverrides } from "../weights/architecture/architecture-overrides.js";
import { ConfigError, parseUNetConfig } from "../weights/architecture/diffusers-config.js";
import { loadModel } from "../weights/load-model.js";
import { ModelLoadError } from "../weights/model-load-error.js";

export {
  defaultsForFolder,
  GENERIC_DEFAULTS,
  GUIDANCE_EMBEDDING_DEFAULTS,
  type ModelDefaults,
  SD_TURBO_DEFAULTS,
} from "../pipeline/model-defaults.js";

/**
 * The model used without `-m`: DreamShaper 8 with LCM distilled into it, as a plain SD1.5 UNet.
 * Four LCM steps without classifier-free guidance: one UNet call per step.
 */
export const DEFAULT_MODEL_REPO = "Lykon/dreamshaper-8-lcm";
export const DEFAULT_MODEL_DEFAULTS: ModelDefaults = {
  sampler: "LCM",
  steps: 4,
  cfg: 1,
  width: 512,
  height: 512,
};
/** Its model card loads the fp16 weights: half the download, and sdlite computes in float32 anyway. */
export const DEFAULT_MODEL_VARIANT = "fp16";

export interface ResolvedModel {
  /** File or folder to open. */
  readonly path: string;
  /** The infotext's `Model`: the checkpoint's file stem, the folder's name or the repo id. */
  readonly name: string;
  /** Set when the model came from the hub. */
  readonly repo?: string;
  /** Weights variant to prefer when opening (what was downloaded). */
  readonly variant?: string;
  readonly defaults: ModelDefaults;
  /** Hub models: true when the snapshot was already complete in the cache. */
  readonly fromCache?: boolean;
}

export interface ResolveModelOptions {
  /** Weights variant ("fp16") to download and prefer; the default model uses fp16 unless told. */
  variant?: string;
  /** Called once before anything is fetched from the hub. */
  onHubLookup?: (repo: string, revision: string | undefined) => void;
  onDownloadProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Overrides of what the environment says about the hub (HF_ENDPOINT, HF_HUB_CACHE, …). */
  hubSettings?: Partial<HubSettings>;
  /** What --config says (a prediction type can change a model's default size). */
  overrides?: ArchitectureOverrides;
}

/** `org/name` or `org/name@revision`: what the hub calls a model id. */
const REPO_ID = /^([A-Za-z0-9][\w.-]*\/[\w.-]+)(?:@([\w./-]+))?$/;
const CHECKPOINT_EXTENSIONS = new Set([".safetensors", ".ckpt", ".bin", ".pt", ".pth", ".onnx"]);

/** True for arguments that can only be meant as a path (so they are never sent to the hub). */
function looksLikePath(spec: string): boolean {
  return (
    /^(?:\.{1,2}[\\/]|[\\/]|~|[A-Za-z]:[\\/])/.test(spec) ||
    spec.includes("\\") ||
    CHECKPOINT_EXTENSIONS.has(extname(spec).toLowerCase())
  );
}

export function parseRepoSpec(spec: string): { repo: string; revision?: string } | undefined {
  if (looksLikePath(spec)) return undefined;
  const m = REPO_ID.exec(spec);
  if (!m || m[1].includes("--") || m[1].includes("..")) return undefined;
  return m[2] === undefined ? { repo: m[1] } : { repo: m[1], revision: m[2] };
}

export async function resolveModel(
  spec: string | undefined,
  options: ResolveModelOptions = {},
): Promise<ResolvedModel> {
  if (spec === undefined) {
    return fromHub(DEFAULT_MODEL_REPO, undefined, DEFAULT_MODEL_DEFAULTS, {
      ...options,
      variant: options.variant ?? DEFAULT_MODEL_VARIANT,
    });
  }
  if (existsSync(spec)) {
    const folder = statSync(spec).isDirectory();
    return {
      path: spec,
      name: folder ? basename(resolve(spec)) : basename(spec, extname(spec)),
      variant: options.variant,
      defaults: defaultsForModel(spec, GENERIC_DEFAULTS, options.overrides),
    };
  }
  const hub = parseRepoSpec(spec);
  if (!hub) throw new ModelLoadError("missing-file", spec, "no such file or folder");
  try {
    return await fromHub(hub.repo, hub.revision, GENERIC_DEFAULTS, options);
  } catch (err) {
    if (err instanceof HubError && ["unauthorized", "repo-not-found"].includes(err.code)) {
      throw new HubError(
        err.code,
        `"${spec}" is not a file or folder here, so it was looked up on the Hugging Face hub: ${err.message}`,
        err.status,
        { cause: err },
      );
    }
    throw err;
  }
}

async function fromHub(
  repo: string,
  revision: string | undefined,
  defaults: ModelDefaults,
  options: ResolveModelOptions,
): Promise<ResolvedModel> {
  options.onHubLookup?.(repo, revision);
  const common = { revision, signal: options.signal, settings: options.hubSettings };
  // The configs first (a few KB, no progress shown): a model sdlite cannot run is refused before
  // gigabytes are fetched.
  const head = await snapshotDownload(repo, {
    ...common,
    allowPatterns: ["model_index.json", "unet/config.json"],
  });
  if (!head.files.includes("model_index.json")) {
    throw new ModelLoadError(
      "unknown-format",
      repo,
      "this Hugging Face repo is not a diffusers pipeline (it has no model_index.json); download its single-file checkpoint (.safetensors) and pass that file with -m",
    );
  }
  refuseUnsupported(head.dir, repo);

  const fp16 = options.variant === "fp16";
  const withProgress = { ...common, fp16, onProgress: options.onDownloadProgress };
  let snapshot = await downloadSd15Pipeline(repo, withProgress);
  if (snapshot.componentsWithoutWeights.length > 0) {
    // no PyTorch weights for some component: an ONNX pipeline repo
    snapshot = await downloadSd15Pipeline(repo, { ...withProgress, onnx: true });
  }
  if (snapshot.componentsWithoutWeights.length > 0) {
    throw new ModelLoadError(
      "missing-file",
      repo,
      `the repo has no weights sdlite can read for ${snapshot.componentsWithoutWeights.join(", ")} (looked for .safetensors, .bin and .onnx files)`,
    );
  }
  return {
    path: snapshot.dir,
    name: repo,
    repo,
    variant: options.variant,
    defaults: defaultsForModel(snapshot.dir, defaults, options.overrides),
    fromCache: head.fromCache && snapshot.fromCache,
  };
}

const LCM_HINT = `; ONNX exports of LCM models with a guidance embedding (a "timestep_cond" input) are not supported: use the model's diffusers weights, ${DEFAULT_MODEL_REPO} (the default model) or any SD1.5 model with the LCM-LoRA (--lora FILE --sampler LCM --cfg 1)`;

/** The loader's own checks on what the configs say, run while only the configs are on disk. */
function refuseUnsupported(dir: string, repo: string): void {
  try {
    loadModel(dir);
  } catch (err) {
    // only the verdict on the pipeline class counts here; the weights are simply not there yet
    if (err instanceof ModelLoadError && err.reason === "unsupported-architecture") {
      throw new ModelLoadError(err.reason, repo, withLcmHint(err.message.slice(err.path.length + 2)));
    }
  }
  const unetConfig = join(dir, "unet", "config.json");
  if (!existsSync(unetConfig)) return;
  try {
    parseUNetConfig(JSON.parse(readFileSync(unetConfig, "utf-8")));
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new ModelLoadError("unsupported-config", `${repo} unet/config.json`, withLcmHint(err.message));
    }
    throw err;
  }
}

function withLcmHint(message: string): string {
  return /LatentConsistency|time_cond_proj_dim/.test(message) ? message + LCM_HINT : message;
}
