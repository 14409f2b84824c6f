import assert from "node:assert/strict";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { defaultCacheRoot, fileIdentity, GraphCache, graphCacheKey } from "../src/cache/graph-cache.js";
import { createGraphSession } from "../src/engine/graph-session.js";
import { buildTextEncoderGraph, TEXT_ENCODER_INPUT, TEXT_ENCODER_OUTPUT } from "../src/graph/text-encoder.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { parseTextEncoderConfig } from "../src/weights/architecture/diffusers-config.js";
import { SafetensorsWeightSource } from "../src/weights/safetensors-weight-source.js";
import { assertClose } from "./helpers/assert-close.js";
import { fixturePath, golden, manifest } from "./helpers/fixtures.js";

const modelDir = fixturePath("models/tiny-sd15/text_encoder");
const weightsFile = join(modelDir, "model.safetensors");
const config = parseTextEncoderConfig(JSON.parse(readFileSync(join(modelDir, "config.json"), "utf-8")));

describe("graph cache", () => {
  const root = mkdtempSync(join(tmpdir(), "sdlite-cache-"));
  // the weights stay open until the cache has written the graph (they are read lazily)
  const weights = SafetensorsWeightSource.open(weightsFile);
  after(() => {
    weights.close();
    rmSync(root, { recursive: true, force: true });
  });

  let builds = 0;
  const build = () => {
    builds++;
    return buildTextEncoderGraph(weights, config);
  };
  const key = graphCacheKey({
    kind: "text_encoder",
    weights: [fileIdentity(weightsFile)],
    config,
    options: {},
  });

  it("resolves the cache root from SDLITE_CACHE, then XDG_CACHE_HOME, then ~/.cache", () => {
    assert.equal(defaultCacheRoot({ SDLITE_CACHE: "/x/y", XDG_CACHE_HOME: "/xdg" }), "/x/y");
    assert.equal(defaultCacheRoot({ XDG_CACHE_HOME: "/xdg" }), "/xdg/sdlite");
    assert.equal(defaultCacheRoot({}), join(homedir(), ".cache", "sdlite"));
  });

  it("keys change with the weights' identity and the options, not with key order", () => {
    const id = fileIdentity(weightsFile);
    const k = (parts: object) => graphCacheKey({ kind: "unet", weights: [id], ...parts });
    assert.equal(k({ options: { a: 1, b: 2 } }), k({ options: { b: 2, a: 1 } }));
    assert.notEqual(k({ options: { attention: "mha" } }), k({ options: { attention: "matmul" } }));
    assert.notEqual(
      graphCacheKey({ kind: "unet", weights: [{ ...id, mtimeMs: id.mtimeMs + 1 }] }),
      graphCacheKey({ kind: "unet", weights: [id] }),
    );
    assert.notEqual(
      graphCacheKey({ kind: "unet", weights: "sha256:aa" }),
      graphCacheKey({ kind: "vae", weights: "sha256:aa" }),
    );
    assert.match(k({}), /^unet-[0-9a-f]{32}$/);
  });

  it("builds once, then serves the stored model, which loads by path and matches the golden", async () => {
    const cache = new GraphCache(root);
    const first = cache.getOrBuild(key, build, { externalMinBytes: 1024 });
    assert.equal(first.hit, false);
    const second = cache.getOrBuild(key, build);
    assert.equal(second.hit, true);
    assert.equal(second.modelPath, first.modelPath);
    assert.equal(builds, 1);
    assert.deepEqual(readdirSync(cache.dir), [key], "no temporary folders left behind");
    const session = await onnxruntimeNode().createSession(
      { path: second.modelPath },
      { intraOpNumThreads: 1 },
    );
    const c = manifest().text_encoder.cases[0];
    const ids = Int32Array.from(golden("text_encoder").readInts(c.input_ids));
    const out = await session.run({ [TEXT_ENCODER_INPUT]: { dims: [1, 77], data: ids } });
    await session.release();
    assertClose(
      out[TEXT_ENCODER_OUTPUT].data as Float32Array,
      golden("text_encoder").readF32(c.last_hidden_state),
      1e-4,
      "cached text encoder",
    );
  });

  it("ignores a leftover temporary folder and never trusts an entry without a matching entry.json", () => {
    const cache = new GraphCache(join(root, "second"));
    // what a build killed before its rename leaves behind: a temp folder with a half-written model
    mkdirSync(join(cache.dir, `${key}.tmp-12345-dead`), { recursive: true });
    writeFileSync(join(cache.dir, `${key}.tmp-12345-dead`, "model.onnx"), "half written");
    assert.equal(cache.lookup(key), undefined);
    // a final-named folder without entry.json (e.g. copied by hand) is not trusted either
    mkdirSync(join(cache.dir, key));
    writeFileSync(join(cache.dir, key, "model.onnx"), "garbage");
    assert.equal(cache.lookup(key), undefined);

    builds = 0;
    const built = cache.getOrBuild(key, build);
    assert.equal(built.hit, false);
    assert.equal(builds, 1);
    assert.ok(cache.lookup(key));

    // a truncated weight file invalidates the entry, which is then rebuilt
    const weightsBin = readdirSync(join(cache.dir, key)).find((f) => f.endsWith(".bin"))!;
    truncateSync(join(cache.dir, key, weightsBin), 10);
    assert.equal(cache.lookup(key), undefined);
    assert.equal(cache.getOrBuild(key, build).hit, false);
    assert.equal(builds, 2);
  });

  it("createGraphSession runs the same graph from the cache and from memory", async () => {
    const cache = new GraphCache(join(root, "third"));
    const runtime = onnxruntimeNode();
    const c = manifest().text_encoder.cases[1];
    const ids = Int32Array.from(golden("text_encoder").readInts(c.input_ids));
    const expected = golden("text_encoder").readF32(c.last_hidden_state);
    for (const options of [{ cache: { cache, key } }, {}]) {
      const session = await createGraphSession(runtime, build, {
        ...options,
        session: { intraOpNumThreads: 1 },
      });
      const out = await session.run({ [TEXT_ENCODER_INPUT]: { dims: [1, 77], data: ids } });
      await session.release();
      assertClose(
        out[TEXT_ENCODER_OUTPUT].data as Float32Array,
        expected,
        1e-4,
        `session ${JSON.stringify(Object.keys(options))}`,
      );
    }
    assert.ok(cache.lookup(key), "the cached variant stored its graph");
  });
});
