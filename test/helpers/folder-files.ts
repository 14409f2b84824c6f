/** Every file under a folder as { "sub/path": bytes }: a model folder ready to publish on the fake hub. */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";

export function folderFiles(dir: string): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[relative(dir, path).split(sep).join("/")] = readFileSync(path);
  }
  return files;
}
