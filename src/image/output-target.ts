/**
 * Where `-o` puts images: an argument ending in `.png` (and not an existing folder) names the
 * file, more images going beside it as `name-1.png`, `name-2.png`, …; anything else is a folder
 * of A1111-numbered files (`00012-<seed>.png`). Either way no existing file is overwritten.
 */
import { statSync } from "node:fs";
import { dirname } from "node:path";
import { checkOutputFolder, ensureOutputFolder } from "./output-folder.js";
import { writeFileNoOverwrite, writeNumberedFile } from "./output-path.js";

export type OutputTarget =
  | { readonly kind: "folder"; readonly dir: string }
  | { readonly kind: "file"; readonly path: string };

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export function outputTarget(arg: string): OutputTarget {
  return /\.png$/i.test(arg) && !isFolder(arg) ? { kind: "file", path: arg } : { kind: "folder", dir: arg };
}

/** The folder the images go into. */
export function outputFolder(target: OutputTarget): string {
  return target.kind === "folder" ? target.dir : dirname(target.path);
}

/** Checks, creating nothing, that the images can be written there: run before generating. */
export function checkOutputTarget(target: OutputTarget): Promise<void> {
  return checkOutputFolder(outputFolder(target));
}

/** Writes one image (complete or not at all) at its free name; returns the path written. */
export async function writeOutputImage(target: OutputTarget, seed: number, png: Uint8Array): Promise<string> {
  if (target.kind === "folder") return writeNumberedFile(target.dir, String(seed), png);
  await ensureOutputFolder(dirname(target.path));
  return writeFileNoOverwrite(target.path, png);
}
