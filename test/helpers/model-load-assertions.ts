/** Assertions the loader tests share: a refusal with its reason and message, a file's header shapes. */
import assert from "node:assert/strict";
import { SafetensorsFile } from "../../src/weights/formats/safetensors.js";
import { ModelLoadError } from "../../src/weights/model-load-error.js";

/** `fn` throws a ModelLoadError with this reason and a message matching `message`. */
export function refusal(fn: () => unknown, reason: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ModelLoadError, `expected a ModelLoadError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    assert.match(err.message, message);
    return true;
  });
}

/** Tensor name → shape, from a safetensors header (no data read). */
export function headerShapes(path: string): Map<string, readonly number[]> {
  const f = SafetensorsFile.open(path);
  const shapes = new Map([...f.tensors].map(([n, t]) => [n, t.shape]));
  f.close();
  return shapes;
}
