/**
 * Output folders made safely, with a one-line reason when they cannot be. Node's own
 * `mkdir(dir, { recursive: true })` spins forever on a path it cannot create in a pseudo file
 * system (`/proc/x`: mkdir answers ENOENT, so it creates the parent, which exists, and retries),
 * and answers "EEXIST" for a path that is a file; here each missing folder is made once, from the
 * first existing ancestor down, and every failure names the folder and the reason.
 */
import { constants } from "node:fs";
import { access, mkdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";

/** A folder that cannot be made or written to. */
export class OutputFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutputFolderError";
  }
}

const REASONS: Readonly<Record<string, string>> = {
  EACCES: "permission denied",
  EPERM: "not permitted",
  EROFS: "the file system is read-only",
  ENOSPC: "the disk is full",
  EDQUOT: "the disk quota is used up",
  ENAMETOOLONG: "the name is too long",
  ENOTDIR: "part of the path is a file, not a folder",
  ELOOP: "too many symbolic links",
  EEXIST: "a file of that name exists",
  EIO: "an input/output error",
};

/**
 * "permission denied (EACCES)" for an errno error, its own message for anything else; `missing`
 * says what ENOENT means where it happened.
 */
export function fileErrorReason(err: unknown, missing = "its folder does not exist"): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (!code) return (err as Error).message;
  const reason = code === "ENOENT" ? missing : REASONS[code];
  return reason ? `${reason} (${code})` : (err as Error).message;
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    throw new OutputFolderError(`cannot use the output folder ${path}: ${fileErrorReason(err)}`);
  }
}

/** The folders of `dir` that do not exist yet (outermost first) and its first existing ancestor. */
async function missingFolders(dir: string): Promise<{ missing: string[]; existing: string }> {
  const target = resolve(dir);
  const missing: string[] = [];
  let path = target;
  let found = await statOrUndefined(path);
  while (found === undefined) {
    missing.push(path);
    const parent = dirname(path);
    if (parent === path) break;
    path = parent;
    found = await statOrUndefined(path);
  }
  if (found !== undefined && !found.isDirectory()) {
    throw new OutputFolderError(`cannot use the output folder ${dir}: ${path} is a file, not a folder`);
  }
  return { missing: missing.reverse(), existing: path };
}

async function checkWritable(folder: string, dir: string): Promise<void> {
  try {
    await access(folder, constants.W_OK);
  } catch (err) {
    const where = resolve(folder) === resolve(dir) ? "into" : `${folder} to make`;
    throw new OutputFolderError(`cannot write ${where} the output folder ${dir}: ${fileErrorReason(err)}`);
  }
}

/**
 * Checks, without creating anything, that `dir` is a folder sdlite can write into or could make:
 * no part of it is a file, and the nearest existing folder is writable. Run before a long job.
 */
export async function checkOutputFolder(dir: string): Promise<void> {
  const { existing } = await missingFolders(dir);
  await checkWritable(existing, dir);
}

/** Makes `dir` (and missing parents) unless it exists; checks it is a folder sdlite can write into. */
export async function ensureOutputFolder(dir: string): Promise<void> {
  const target = resolve(dir);
  const { missing } = await missingFolders(dir);
  for (const folder of missing) {
    try {
      await mkdir(folder);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST" && (await statOrUndefined(folder))?.isDirectory())
        continue; // made by someone else meanwhile
      const reason = fileErrorReason(err, "the file system does not allow a folder there");
      throw new OutputFolderError(`cannot create the output folder ${folder}: ${reason}`);
    }
  }
  await checkWritable(target, dir);
}
