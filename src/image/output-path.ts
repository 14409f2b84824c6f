/**
 * Output files that never overwrite an existing one. Names are claimed by creating the file with
 * the exclusive `wx` flag, and the next candidate is tried on EEXIST, so two processes writing
 * into one folder at the same time cannot clobber each other.
 */
import { open, readdir, unlink } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { ensureOutputFolder, fileErrorReason } from "./output-folder.js";

/** Gives up after this many taken names in a row (something else is wrong by then). */
const MAX_ATTEMPTS = 10_000;

/**
 * A1111's get_next_sequence_number: one more than the largest leading number among the names
 * (`00012-1234.png` → 12), 0 for a folder without numbered files.
 */
export function nextSequenceNumber(names: readonly string[]): number {
  let max = -1;
  for (const name of names) {
    const m = /^(\d+)(?:-|\.|$)/.exec(name);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

/** `00007-1234.png`: five-digit sequence number, then the suffix (A1111 uses the seed). */
export function numberedFileName(sequence: number, suffix: string, extension = ".png"): string {
  const tail = suffix === "" ? "" : `-${suffix}`;
  return `${String(sequence).padStart(5, "0")}${tail}${extension}`;
}

function isExists(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "EEXIST";
}

/** Creates `path` exclusively and writes `bytes`; false when the name is taken. */
async function tryWriteNew(path: string, bytes: Uint8Array): Promise<boolean> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, "wx");
  } catch (err) {
    if (isExists(err)) return false;
    throw new Error(`cannot write ${path}: ${fileErrorReason(err)}`);
  }
  try {
    await file.writeFile(bytes);
    await file.close();
  } catch (err) {
    await file.close().catch(() => {});
    await unlink(path).catch(() => {}); // never leave a half-written image behind
    throw new Error(`cannot write ${path}: ${fileErrorReason(err)}`);
  }
  return true;
}

/**
 * Writes `bytes` as `<dir>/<NNNNN>-<suffix><ext>` with the next free sequence number (creating the
 * folder); returns the path written.
 */
export async function writeNumberedFile(
  dir: string,
  suffix: string,
  bytes: Uint8Array,
  extension = ".png",
): Promise<string> {
  await ensureOutputFolder(dir);
  let sequence = nextSequenceNumber(await readdir(dir));
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++, sequence++) {
    const path = join(dir, numberedFileName(sequence, suffix, extension));
    if (await tryWriteNew(path, bytes)) return path;
  }
  throw new Error(`no free file name in ${dir} after ${MAX_ATTEMPTS} attempts`);
}

/** `name.png`, then `name-1.png`, `name-2.png`, ...: the n-th candidate for a wanted path. */
export function candidatePath(wanted: string, n: number): string {
  if (n === 0) return wanted;
  const ext = extname(wanted);
  return join(dirname(wanted), `${basename(wanted, ext)}-${n}${ext}`);
}

/** Writes `bytes` at `wanted`, or at the first free `name-N.ext` beside it; returns the path written. */
export async function writeFileNoOverwrite(wanted: string, bytes: Uint8Array): Promise<string> {
  for (let n = 0; n < MAX_ATTEMPTS; n++) {
    const path = candidatePath(wanted, n);
    if (await tryWriteNew(path, bytes)) return path;
  }
  throw new Error(`no free file name beside ${wanted} after ${MAX_ATTEMPTS} attempts`);
}
