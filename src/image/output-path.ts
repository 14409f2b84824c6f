/**
 * Output files that never overwrite an existing one and never appear half-written. Each file is
 * written in full under a hidden temporary name beside it, then hard-linked to its name, which
 * fails with EEXIST when the name is taken (so the next candidate is tried and two processes
 * writing into one folder cannot clobber each other), and the temporary name is removed. A run
 * killed mid-write leaves at most a `.*.tmp` file, never a truncated image under a real name.
 * Where the file system has no hard links, the name is claimed with the exclusive `wx` flag instead.
 */
import { randomBytes } from "node:crypto";
import { link, open, readdir, unlink, writeFile } from "node:fs/promises";
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

/** Creates `path` exclusively and writes `bytes` into it; false when the name is taken. */
async function tryWriteExclusive(path: string, bytes: Uint8Array): Promise<boolean> {
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

/** Errors of link() that mean "no hard links here", not "cannot write". */
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "EXDEV", "ENOSYS", "EMLINK"]);

/** A complete file under a hidden name beside `near`, to be linked to its real name. */
async function writeTemporary(near: string, bytes: Uint8Array): Promise<string> {
  const temporary = join(
    dirname(near),
    `.${basename(near)}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`,
  );
  try {
    await writeFile(temporary, bytes, { flag: "wx" });
  } catch (err) {
    await unlink(temporary).catch(() => {});
    throw new Error(`cannot write ${near}: ${fileErrorReason(err)}`);
  }
  return temporary;
}

/** Writes `bytes` at the first free name `candidate(0)`, `candidate(1)`, …; returns it. */
async function writeAtFreeName(
  candidate: (attempt: number) => string,
  bytes: Uint8Array,
  exhausted: () => Error,
): Promise<string> {
  const temporary = await writeTemporary(candidate(0), bytes);
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const path = candidate(attempt);
      try {
        await link(temporary, path);
        return path;
      } catch (err) {
        if (isExists(err)) continue;
        if (!NO_HARD_LINKS.has((err as NodeJS.ErrnoException).code ?? "")) {
          throw new Error(`cannot write ${path}: ${fileErrorReason(err)}`);
        }
        if (await tryWriteExclusive(path, bytes)) return path;
      }
    }
    throw exhausted();
  } finally {
    await unlink(temporary).catch(() => {});
  }
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
  const first = nextSequenceNumber(await readdir(dir));
  return writeAtFreeName(
    (attempt) => join(dir, numberedFileName(first + attempt, suffix, extension)),
    bytes,
    () => new Error(`no free file name in ${dir} after ${MAX_ATTEMPTS} attempts`),
  );
}

/** `name.png`, then `name-1.png`, `name-2.png`, ...: the n-th candidate for a wanted path. */
export function candidatePath(wanted: string, n: number): string {
  if (n === 0) return wanted;
  const ext = extname(wanted);
  return join(dirname(wanted), `${basename(wanted, ext)}-${n}${ext}`);
}

/** Writes `bytes` at `wanted`, or at the first free `name-N.ext` beside it; returns the path written. */
export async function writeFileNoOverwrite(wanted: string, bytes: Uint8Array): Promise<string> {
  return writeAtFreeName(
    (n) => candidatePath(wanted, n),
    bytes,
    () => new Error(`no free file name beside ${wanted} after ${MAX_ATTEMPTS} attempts`),
  );
}
