/**
 * Checks a component's tensors against the list its config implies: every expected tensor present
 * with the expected shape, nothing unexplained in the component's name space. Errors name the
 * tensors, so a damaged or mislabelled file is caught at load time, not deep inside graph building.
 */
import { listSome, ModelLoadError } from "../model-load-error.js";
import { shapeText } from "./tensor-mapping.js";

export interface ExpectedTensor {
  /** Name as stored (relative to `prefix`). */
  readonly name: string;
  readonly shape: readonly number[];
}

export interface ValidateOptions {
  component: string;
  path: string;
  /** Printed before names so messages show the key as it is in the file. */
  prefix?: string;
  /** Found names this matches are not part of the component (e.g. `loss.*` in VAE files). */
  ignore?: RegExp;
}

export function validateTensors(
  found: ReadonlyMap<string, readonly number[]>,
  expected: readonly ExpectedTensor[],
  options: ValidateOptions,
): void {
  const { component, path, prefix = "", ignore } = options;
  const missing = expected.filter((t) => !found.has(t.name));
  if (missing.length > 0) {
    const first = missing[0];
    throw new ModelLoadError(
      "missing-tensor",
      path,
      `${component}: tensor "${prefix}${first.name}" (shape ${shapeText(first.shape)}) is missing${
        missing.length > 1
          ? `, and ${missing.length - 1} more: ${listSome(
              missing.slice(1).map((t) => prefix + t.name),
              3,
            )}`
          : ""
      }`,
    );
  }
  const wrong = expected.filter((t) => !sameShape(found.get(t.name) as readonly number[], t.shape));
  if (wrong.length > 0) {
    const describe = (t: ExpectedTensor) =>
      `"${prefix}${t.name}" has shape ${shapeText(found.get(t.name) as readonly number[])}, expected ${shapeText(t.shape)}`;
    throw new ModelLoadError(
      "wrong-shape",
      path,
      `${component}: tensor ${describe(wrong[0])}${wrong.length > 1 ? ` (and ${wrong.length - 1} more wrong shapes)` : ""}`,
    );
  }
  const known = new Set(expected.map((t) => t.name));
  const unexpected = [...found.keys()].filter((n) => !known.has(n) && !ignore?.test(n));
  if (unexpected.length > 0) {
    throw new ModelLoadError(
      "unexpected-tensor",
      path,
      `${component}: ${unexpected.length} tensor(s) the detected architecture has no place for: ${listSome(
        unexpected.map((n) => prefix + n),
        3,
      )}`,
    );
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
