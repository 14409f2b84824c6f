/**
 * A folder of verified cache entries, shared by the graph cache and the optimised-model cache: each
 * entry is `<dir>/<key>/` with an `entry.json` listing every file with its size and content digests
 * (entry-digest.ts). An entry is built in a sibling temporary folder and renamed into place only
 * when complete; a folder without a valid manifest, or whose files do not match it in size or
 * content, is never trusted, and temporary folders are ignored (and removed once a day old).
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  digestFile,
  type FileDigest,
  fileStamp,
  fullSha256,
  isFileDigest,
  sampledSha256,
} from "./entry-digest.js";

export const ENTRY_FILE = "entry.json";
export const TEMP_MARKER = ".tmp-";
/** Temporary folders older than this are assumed dead (a build or save takes minutes, not a day). */
export const STALE_TEMP_MS = 24 * 3600 * 1000;

/** What every manifest holds; caches add their own fields. */
export interface EntryManifest {
  readonly formatVersion: number;
  readonly key: string;
  readonly modelFile: string;
  readonly files: Record<string, number>;
  /** Per file; absent in entries written before sdlite checked contents (those are rebuilt). */
  readonly digests?: Record<string, FileDigest>;
  readonly createdAt: string;
}

/**
 * What a look at an entry found. "outdated" (another format, or no content digests) is rebuilt
 * without comment; "damaged" deserves a note saying what was wrong.
 */
export type EntryCheck =
  | { readonly state: "ok"; readonly modelPath: string }
  | { readonly state: "absent" }
  | { readonly state: "outdated" }
  | { readonly state: "damaged"; readonly reason: string };

/** A damaged entry found and replaced, for a one-line note (library code reports, never prints). */
export interface CacheRepair {
  /** "graphs" or "optimized". */
  readonly cache: string;
  readonly key: string;
  readonly reason: string;
}

export interface CacheListener {
  /** Called when a damaged entry is about to be rebuilt or saved again. */
  readonly onRepair?: (repair: CacheRepair) => void;
}

/**
 * "quick": sizes, the sampled digest of every file whose stamp is unchanged, the full digest of
 * one whose stamp changed. "full": every file's full digest (`sdlite cache verify`).
 */
export type CheckDepth = "quick" | "full";

/** Files found intact in full by this process at a stamp its manifest could not record. */
const verifiedStamps = new Map<string, string>();

/** The digests of the files of a finished entry folder, for its manifest. */
export function entryDigests(entryDir: string, files: readonly string[]): Record<string, FileDigest> {
  const digests: Record<string, FileDigest> = {};
  for (const f of files) digests[f] = digestFile(join(entryDir, f));
  return digests;
}

function readManifest(entryDir: string): EntryManifest | "absent" | string {
  let text: string;
  try {
    text = readFileSync(join(entryDir, ENTRY_FILE), "utf-8");
  } catch {
    return existsSync(entryDir) ? `no readable ${ENTRY_FILE}` : "absent";
  }
  try {
    return JSON.parse(text) as EntryManifest;
  } catch {
    return `${ENTRY_FILE} is not valid JSON`;
  }
}

/** Checks one file against its digest; returns what is wrong, or undefined. */
function checkFile(path: string, digest: FileDigest, depth: CheckDepth): { wrong?: string; stamp?: string } {
  const stamp = fileStamp(path);
  if (depth === "quick" && stamp === digest.stamp) {
    return sampledSha256(path) === digest.sample ? {} : { wrong: "sampled bytes differ from its digest" };
  }
  if (depth === "quick" && verifiedStamps.get(path) === stamp) return {};
  if (fullSha256(path) !== digest.sha256) return { wrong: "content differs from its SHA-256" };
  verifiedStamps.set(path, stamp);
  return stamp === digest.stamp ? {} : { stamp };
}

/** Rewrites the manifest with new stamps (atomically); a read-only cache keeps the old ones. */
function recordStamps(entryDir: string, manifest: EntryManifest, stamps: Record<string, string>): void {
  const digests = { ...manifest.digests };
  for (const [file, stamp] of Object.entries(stamps)) digests[file] = { ...digests[file], stamp };
  const tmp = join(
    entryDir,
    `${ENTRY_FILE}${TEMP_MARKER}${process.pid}-${Math.random().toString(36).slice(2)}`,
  );
  try {
    writeFileSync(tmp, JSON.stringify({ ...manifest, digests }, null, 2));
    renameSync(tmp, join(entryDir, ENTRY_FILE));
  } catch {
    rmSync(tmp, { force: true });
  }
}

/** Looks at entry `key` under `dir`: complete and intact, absent, outdated or damaged (and how). */
export function checkEntry(
  dir: string,
  key: string,
  formatVersion: number,
  depth: CheckDepth = "quick",
): EntryCheck {
  const entryDir = join(dir, key);
  const manifest = readManifest(entryDir);
  if (manifest === "absent") return { state: "absent" };
  if (typeof manifest === "string") return { state: "damaged", reason: manifest };
  if (manifest.formatVersion !== formatVersion) return { state: "outdated" };
  if (
    manifest.key !== key ||
    typeof manifest.files !== "object" ||
    manifest.files === null ||
    !(manifest.modelFile in manifest.files)
  ) {
    return { state: "damaged", reason: `${ENTRY_FILE} does not describe this entry` };
  }
  if (typeof manifest.digests !== "object" || manifest.digests === null) return { state: "outdated" };
  const stamps: Record<string, string> = {};
  for (const [file, size] of Object.entries(manifest.files)) {
    const path = join(entryDir, file);
    const digest = manifest.digests[file];
    if (!isFileDigest(digest)) return { state: "damaged", reason: `${file} has no digest in ${ENTRY_FILE}` };
    let found: { wrong?: string; stamp?: string };
    try {
      const actual = statSync(path).size;
      if (actual !== size) return { state: "damaged", reason: `${file} has ${actual} bytes, not ${size}` };
      found = checkFile(path, digest, depth);
    } catch {
      return { state: "damaged", reason: `${file} is missing or unreadable` };
    }
    if (found.wrong) return { state: "damaged", reason: `${file}: ${found.wrong}` };
    if (found.stamp) stamps[file] = found.stamp;
  }
  if (Object.keys(stamps).length > 0) recordStamps(entryDir, manifest, stamps);
  return { state: "ok", modelPath: join(entryDir, manifest.modelFile) };
}

/** The model path of the complete, intact entry `key` under `dir`, or undefined. */
export function lookupEntry(dir: string, key: string, formatVersion: number): string | undefined {
  const found = checkEntry(dir, key, formatVersion);
  return found.state === "ok" ? found.modelPath : undefined;
}

/** A fresh temporary folder name for building entry `key` (not created); dead temporaries are removed. */
export function temporaryEntryDir(dir: string, key: string): string {
  mkdirSync(dir, { recursive: true });
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    if (!name.includes(TEMP_MARKER)) continue;
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs > STALE_TEMP_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // removed by someone else meanwhile
    }
  }
  return join(dir, `${key}${TEMP_MARKER}${process.pid}-${Math.random().toString(36).slice(2)}`);
}

/**
 * Renames the finished temporary folder `tmp` (manifest written) into place as entry `key`. A
 * damaged entry there is replaced; a valid one from a concurrent process wins, and `tmp` is dropped.
 * Returns the model path of the entry now in place, and whether it is the one from `tmp`.
 */
export function publishEntry(
  dir: string,
  key: string,
  tmp: string,
  formatVersion: number,
): { modelPath: string; ours: boolean } {
  const target = join(dir, key);
  if (existsSync(target) && !lookupEntry(dir, key, formatVersion)) {
    rmSync(target, { recursive: true, force: true });
  }
  let ours = true;
  try {
    renameSync(tmp, target);
  } catch (err) {
    if (!lookupEntry(dir, key, formatVersion)) throw err;
    rmSync(tmp, { recursive: true, force: true });
    ours = false;
  }
  const modelPath = lookupEntry(dir, key, formatVersion);
  if (!modelPath) throw new Error(`cache entry ${key} did not verify after it was stored`);
  return { modelPath, ours };
}

/** The one-line note a front end prints for a repair. */
export function describeRepair(repair: CacheRepair): string {
  const action = repair.cache === "optimized" ? "saving it again" : "rebuilding it";
  return `cache: ${repair.cache}/${repair.key} is damaged (${repair.reason}); ${action}`;
}
