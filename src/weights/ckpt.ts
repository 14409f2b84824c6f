/**
 * Pickled PyTorch checkpoints (.ckpt/.pt/.pth/.bin) are recognised and refused: unpickling runs
 * code chosen by whoever made the file. The message says how to convert one to safetensors.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import { ModelLoadError } from "./model-load-error.js";

const PICKLE_EXTENSIONS = /\.(ckpt|pt|pth|bin|pkl|pickle)$/i;

/** torch.save writes a zip (PK\x03\x04); older torch and plain pickles start with PROTO 0x80. */
export function looksLikePickle(path: string): boolean {
  if (PICKLE_EXTENSIONS.test(path)) return true;
  const head = new Uint8Array(4);
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const n = readSync(fd, head, 0, 4, 0);
    if (n < 2) return false;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const zip = head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
  const pickle = head[0] === 0x80 && head[1] >= 2 && head[1] <= 5;
  return zip || pickle;
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

export function refusePickle(path: string): never {
  throw new ModelLoadError(
    "pickle",
    path,
    "this is a pickled PyTorch checkpoint; sdlite never unpickles (loading a pickle can run arbitrary code). " +
      `Convert it once to safetensors, e.g. with torch >= 1.13 and the safetensors package: ${conversionCommand(path)} ` +
      "(weights_only=True keeps torch from running code in the file; if it refuses a class such as a training callback, " +
      "use weights_only=False only for a file you trust), or download the .safetensors version of the model.",
  );
}
