/**
 * Reading architecture values from tensor shapes: a reader that names the tensor it needed when it
 * is missing or wrongly shaped, and the merge of detected values with defaults and overrides that
 * records which was which.
 */
import { shapeText } from "../key-maps/tensor-mapping.js";
import { ModelLoadError } from "../model-load-error.js";

export type TensorShapes = ReadonlyMap<string, readonly number[]>;

export interface Detected<C> {
  config: C;
  /** Config fields the tensors cannot tell, with where the value came from. */
  assumed: Record<string, "default" | "override">;
}

export class ShapeReader {
  constructor(
    readonly shapes: TensorShapes,
    readonly path: string,
    readonly component: string,
    readonly prefix: string,
  ) {}

  has(name: string): boolean {
    return this.shapes.has(name);
  }

  get(name: string, rank?: number): readonly number[] {
    const shape = this.shapes.get(name);
    if (!shape) {
      throw new ModelLoadError(
        "missing-tensor",
        this.path,
        `${this.component}: tensor "${this.prefix}${name}" is missing, so the architecture cannot be read`,
      );
    }
    if (rank !== undefined && shape.length !== rank) {
      throw new ModelLoadError(
        "wrong-shape",
        this.path,
        `${this.component}: tensor "${this.prefix}${name}" has shape ${shapeText(shape)}, expected ${rank} dimensions`,
      );
    }
    return shape;
  }

  /** Distinct integers N of names matching `<before>N.` . */
  indices(re: RegExp): number[] {
    const found = new Set<number>();
    for (const name of this.shapes.keys()) {
      const m = re.exec(name);
      if (m) found.add(Number(m[1]));
    }
    return [...found].sort((a, b) => a - b);
  }

  fail(
    message: string,
    reason: "unsupported-config" | "unsupported-architecture" = "unsupported-config",
  ): never {
    throw new ModelLoadError(reason, this.path, `${this.component}: ${message}`);
  }
}

export function resolve<C extends object, O extends object>(
  detected: C,
  defaults: O,
  overrides: Partial<O> | undefined,
): Detected<C & O> {
  const assumed: Record<string, "default" | "override"> = {};
  const config = { ...detected } as C & O;
  for (const key of Object.keys(defaults) as (keyof O)[]) {
    const given = overrides?.[key];
    (config as O)[key] = given !== undefined ? (given as O[keyof O]) : defaults[key];
    assumed[key as string] = given !== undefined ? "override" : "default";
  }
  return { config, assumed };
}

/** Group and head counts must divide the widths; a wrong default shows up here, not in the graph. */
export function checkDivides(
  r: ShapeReader,
  field: string,
  detected: Detected<object>,
  channels: readonly number[],
  defaultSource = "SD1.5's value",
): void {
  const value = (detected.config as Record<string, number | readonly number[]>)[field];
  const divisors = channels.map((_, i) => (typeof value === "number" ? value : value[i]));
  const bad = channels.findIndex((c, i) => !(divisors[i] > 0) || c % divisors[i] !== 0);
  if (bad < 0) return;
  const source =
    detected.assumed[field] === "default"
      ? ` (${defaultSource}: the file cannot tell)`
      : " (from the overrides)";
  const key = `${r.component === "text encoder" ? "textEncoder" : r.component === "VAE" ? "vae" : "unet"}.${field}`;
  const shown = typeof value === "number" ? String(value) : shapeText(value);
  r.fail(
    `${field} ${shown}${source} does not divide width ${channels[bad]} (widths ${shapeText(channels)}); give the right ${key} in the load options or in a <checkpoint>.sdlite.json file beside the checkpoint`,
  );
}
