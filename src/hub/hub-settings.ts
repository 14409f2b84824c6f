/**
 * Where the hub is and where its files are cached, resolved from the same environment variables,
 * with the same defaults, as Python's huggingface_hub (its `constants.py`), so both share one cache.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export interface HubSettings {
  /** No trailing slash, e.g. "https://huggingface.co". */
  endpoint: string;
  /** The folder holding `models--{org}--{name}` (HF_HUB_CACHE). */
  cacheDir: string;
  /** HF_HUB_OFFLINE: never touch the network, serve from the cache or fail. */
  offline: boolean;
  /** Sent as `Authorization: Bearer …` to the hub (never to a CDN on another origin). */
  token?: string;
  /** HEAD/API requests give up after this long (HF_HUB_ETAG_TIMEOUT, seconds in the env). */
  metadataTimeoutMs: number;
  /** A download whose connection stays silent this long is cut and resumed (HF_HUB_DOWNLOAD_TIMEOUT). */
  downloadStallTimeoutMs: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/** huggingface_hub's `_is_true`: "1", "ON", "YES", "TRUE" in any case. */
function isTrue(value: string | undefined): boolean {
  return value !== undefined && ["1", "ON", "YES", "TRUE"].includes(value.trim().toUpperCase());
}

function expandHome(path: string, home: string): string {
  return path === "~" || path.startsWith("~/") ? join(home, path.slice(1)) : path;
}

function seconds(value: string | undefined, fallback: number): number {
  const parsed = value === undefined ? Number.NaN : Number(value);
  return (Number.isFinite(parsed) && parsed > 0 ? parsed : fallback) * 1000;
}

/** `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
export function hfHome(env: Env = process.env, home = homedir()): string {
  const base = env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(home, ".cache"), "huggingface");
  return resolve(expandHome(base, home));
}

/** The token huggingface_hub would use: HF_TOKEN, the legacy variable, then the file `huggingface-cli login` writes. */
function resolveToken(env: Env, home: string): string | undefined {
  const fromEnv = (env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN)?.trim();
  if (fromEnv) return fromEnv;
  const tokenPath = env.HF_TOKEN_PATH
    ? expandHome(env.HF_TOKEN_PATH, home)
    : join(hfHome(env, home), "token");
  try {
    return readFileSync(tokenPath, "utf-8").trim() || undefined;
  } catch {
    return undefined;
  }
}

export function resolveHubSettings(env: Env = process.env, home = homedir()): HubSettings {
  const cache = env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE;
  return {
    endpoint: (env.HF_ENDPOINT || "https://huggingface.co").replace(/\/+$/, ""),
    cacheDir: cache ? resolve(expandHome(cache, home)) : join(hfHome(env, home), "hub"),
    offline: isTrue(env.HF_HUB_OFFLINE ?? env.TRANSFORMERS_OFFLINE),
    token: resolveToken(env, home),
    metadataTimeoutMs: seconds(env.HF_HUB_ETAG_TIMEOUT, 10),
    downloadStallTimeoutMs: seconds(env.HF_HUB_DOWNLOAD_TIMEOUT, 10),
  };
}

/**
 * sdlite's own folder of checkpoints that do not come from the hub (single `.safetensors`/`.ckpt`
 * files, diffusers folders): `$SDLITE_MODELS`, else `$XDG_DATA_HOME/sdlite/models`, else
 * `~/.local/share/sdlite/models`.
 */
export function sdliteModelsDir(env: Env = process.env, home = homedir()): string {
  if (env.SDLITE_MODELS) return resolve(expandHome(env.SDLITE_MODELS, home));
  const dataHome = env.XDG_DATA_HOME ? expandHome(env.XDG_DATA_HOME, home) : join(home, ".local", "share");
  return resolve(dataHome, "sdlite", "models");
}
