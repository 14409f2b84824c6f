/**
 * Every refusal of the model loader: a machine-readable reason plus a message that says what was
 * found and, where there is one, what to do instead.
 */

export type ModelLoadErrorReason =
  /** SDXL, SD2.x, SD3, Flux, … : a real model, just not SD1.x. */
  | "unsupported-architecture"
  /** A LoRA / LyCORIS / textual-inversion file given where a model was expected. */
  | "not-a-model"
  /** A pickled .ckpt/.pt/.bin: never unpickled, it can execute code. */
  | "pickle"
  /** Empty, unreadable, truncated or otherwise not a usable weights file. */
  | "unreadable"
  /** Nothing we recognise. */
  | "unknown-format"
  | "missing-tensor"
  | "wrong-shape"
  | "unexpected-tensor"
  /** The architecture is SD1-like but a detail is outside what sdlite builds (or conflicts). */
  | "unsupported-config"
  /** A file or folder the format needs is absent. */
  | "missing-file";

export class ModelLoadError extends Error {
  constructor(
    readonly reason: ModelLoadErrorReason,
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = "ModelLoadError";
  }
}

/** A few examples of a long list, for messages. */
export function listSome(items: readonly string[], max = 5): string {
  const shown = items
    .slice(0, max)
    .map((s) => `"${s}"`)
    .join(", ");
  return items.length > max ? `${shown} (and ${items.length - max} more)` : shown;
}
