import assert from "node:assert/strict";
import { test } from "node:test";
import { graphKeyText } from "../src/cache/graph-key.js";
import { canonicalJson } from "../src/runtime/canonical-json.js";
import { sessionRequestKey } from "../src/runtime/worker-thread-runtime.js";

test("canonical JSON sorts keys at every depth and leaves undefined members out", () => {
  const a = canonicalJson({ b: 1, a: { d: [2, { z: 1, y: undefined, x: "s" }], c: null } });
  assert.equal(a, '{"a":{"c":null,"d":[2,{"x":"s","z":1}]},"b":1}');
  assert.equal(canonicalJson({ x: 1, y: 2 }), canonicalJson({ y: 2, x: 1 }));
  assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]));
});

test("the graph key and the preload request key both ignore member order", () => {
  const weights = [{ path: "/m/unet.safetensors", size: 3, mtimeMs: 4 }];
  assert.equal(
    graphKeyText({ kind: "unet", weights, options: { attention: "mha", quantization: "int8" } }),
    graphKeyText({ options: { quantization: "int8", attention: "mha" }, weights, kind: "unet" }),
  );
  const model = { path: "/m/unet.onnx" };
  assert.equal(
    sessionRequestKey(model, { intraOpNumThreads: 2, executionProviders: ["cpu"] }),
    sessionRequestKey(model, { executionProviders: ["cpu"], intraOpNumThreads: 2 }),
  );
  assert.notEqual(
    sessionRequestKey(model, { intraOpNumThreads: 2 }),
    sessionRequestKey(model, { intraOpNumThreads: 1 }),
  );
});
