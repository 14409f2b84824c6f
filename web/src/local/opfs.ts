/**
 * Small helpers over the Origin Private File System (navigator.storage.getDirectory()): the page's
 * own disk, kept across reloads, not visible to other sites. Files are written through
 * createWritable(), which commits on close(): a file is either its old or its new bytes, never torn.
 */

export function hasOpfs(): boolean {
  return typeof navigator !== "undefined" && typeof navigator.storage?.getDirectory === "function";
}

/** A folder under the OPFS root (created when missing); nested names make nested folders. */
export async function opfsDirectory(...names: string[]): Promise<FileSystemDirectoryHandle> {
  let dir = await navigator.storage.getDirectory();
  for (const name of names) dir = await dir.getDirectoryHandle(name, { create: true });
  return dir;
}

export async function fileIn(dir: FileSystemDirectoryHandle, name: string): Promise<File | undefined> {
  try {
    return await (await dir.getFileHandle(name)).getFile();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function writeFileIn(
  dir: FileSystemDirectoryHandle,
  name: string,
  data: Uint8Array | string,
): Promise<void> {
  const writable = await (await dir.getFileHandle(name, { create: true })).createWritable();
  try {
    await writable.write(typeof data === "string" ? data : (data as Uint8Array<ArrayBuffer>));
    await writable.close();
  } catch (err) {
    await writable.abort().catch(() => undefined);
    throw err;
  }
}

export async function readJsonIn<T>(dir: FileSystemDirectoryHandle, name: string): Promise<T | undefined> {
  const file = await fileIn(dir, name);
  if (!file) return undefined;
  try {
    return JSON.parse(await file.text()) as T;
  } catch {
    return undefined; // a damaged record is treated as none
  }
}

export async function removeIn(dir: FileSystemDirectoryHandle, name: string): Promise<void> {
  try {
    await dir.removeEntry(name, { recursive: true });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

export async function entryNames(dir: FileSystemDirectoryHandle): Promise<string[]> {
  const names: string[] = [];
  for await (const name of dir.keys()) names.push(name);
  return names.sort();
}

export function isNotFound(err: unknown): boolean {
  return err instanceof DOMException && err.name === "NotFoundError";
}

/** A file-system-safe, reversible name for any key (graph keys and repo paths hold "/" and ":"). */
export function safeName(key: string): string {
  return encodeURIComponent(key).replace(/\*/g, "%2A").replace(/\./g, "%2E");
}
