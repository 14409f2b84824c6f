/**
 * Pickled PyTorch checkpoints (.ckpt/.pt/.pth/.bin) are never unpickled by Python's rules, which
 * would run code chosen by whoever made the file. torch.save zip archives are read by the
 * restricted reader (torch-checkpoint.ts); anything it cannot read, and every other pickle, is
 * refused with a message on how to convert the file to safetensors.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import { ModelLoadError } from "../model-load-error.js";

const PICKLE_EXTENSIONS = /\.(ckpt|pt|pth|bin|pkl|pickle)$/i;

function head(path: string): Uint8Array {
  const bytes = new Uint8Array(4);
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    readSync(fd, bytes, 0, 4, 0);
  } catch {
    // unreadable: not our call here
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return bytes;
}

/** torch.save writes a zip (PK\x03\x04). */
export function looksLikeTorchZip(path: string): boolean {
  const h = head(path);
  return h[0] === 0x50 && h[1] === 0x4b && h[2] === 0x03 && h[3] === 0x04;
}

/** A pickle by name or by content (zip archive, or a raw pickle starting with PROTO 0x80). */
export function looksLikePickle(path: string): boolean {
  if (PICKLE_EXTENSIONS.test(path) || looksLikeTorchZip(path)) return true;
  const h = head(path);
  return h[0] === 0x80 && h[1] >= 2 && h[1] <= 5;
}

export function conversionCommand(path: string): string {
  const name = basename(path);
  const out = `${name.replace(PICKLE_EXTENSIONS, "")}.safetensors`;
  return (
    `python -c "import torch, safetensors.torch as st; ` +
    `sd = torch.load('${name}', map_location='cpu', weights_only=True); sd = sd.get('state_dict', sd); ` +
    `st.save_file({k: v.contiguous().clone() for k, v in sd.items() if isinstance(v, torch.Tensor)}, '${out}')"`
  );
}

/** Refuses a pickle; `why` says what the restricted reader found, when it tried. */
export function refusePickle(path: string, why?: string, cause?: unknown): never {
  const what = why
    ? `this pickled PyTorch checkpoint cannot be read safely (${why}); sdlite never unpickles with Python's rules (that can run arbitrary code).`
    : "this is a pickled PyTorch checkpoint in a form sdlite does not read (only torch.save zip archives are); sdlite never unpickles with Python's rules (that can run arbitrary code).";
  const error = new ModelLoadError(
    "pickle",
    path,
    `${what} Convert it once to safetensors, e.g. with torch >= 1.13 and the safetensors package: ${conversionCommand(path)} ` +
      "(weights_only=True keeps torch from running code in the file; if it refuses a class such as a training callback, " +
      "use weights_only=False only for a file you trust), or download the .safetensors version of the model.",
  );
  if (cause !== undefined) error.cause = cause;
  throw error;
}
