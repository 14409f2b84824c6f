/**
 * TAESD's decoder with int8 convs (graph/taesd-quantization.ts; channels-last int8 convs with a
 * gathered im2col, graph/taesd.ts): the graph holds the integer products where the policy says, its
 * decodes differ from fp32 yet stay within measured bounds of the diffusers goldens (in image units
 * and in 8-bit pixel levels), and the option reaches the engine, the job, the infotext and the cache
 * key.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { compareImages } from "../src/bench/image-difference.js";
import { GraphCache } from "../src/cache/graph-cache.js";
import { buildCliJob } from "../src/cli/generate-job.js";
import type { ProgressReporter } from "../src/cli/progress-reporter.js";
import { diskGraphSessions } from "../src/engine/disk-graph-sessions.js";
import { int8WeightBitsForThisCpu } from "../src/engine/int8-weight-bits.js";
import type { NetworkContext } from "../src/engine/networks/network-factory.js";
import { buildNetwork, NETWORK_FACTORIES } from "../src/engine/networks/registry.js";
import { openPipeline } from "../src/engine/open-pipeline.js";
import type { GraphBuilder } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import {
  buildTaesdDecoderGraph,
  buildTaesdEncoderGraph,
  TAESD_DECODER_INPUT,
  TAESD_DECODER_OUTPUT,
} from "../src/graph/taesd.js";
import { taesdDecoderInt8Policy } from "../src/graph/taesd-quantization.js";
import { decodedToImages } from "../src/image/convert.js";
import { speedEntries } from "../src/pipeline/generation-record.js";
import { speedSettings, validateJobEngine } from "../src/pipeline/job-engine.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import { SafetensorsWeightSource } from "../src/weights/safetensors-weight-source.js";
import { openTaesd } from "../src/weights/standalone-vae.js";
import { maxDifference } from "./helpers/assert-close.js";
import { fixturePath, golden } from "./helpers/fixtures.js";
import {
  taesdConfig as config,
  goldenDims,
  goldenFeed,
  taesdModelDir as modelDir,
  vaeCases,
} from "./helpers/vae-fixtures.js";

const count = (g: GraphBuilder, op: string) => g.nodes.filter((n) => n.opType === op).length;

async function sessionOf(g: GraphBuilder): Promise<Session> {
  return onnxruntimeNode().createSession(serializeModel(g), { intraOpNumThreads: 1 });
}

// measured on tiny-taesd (16 channels) with 8-bit weight codes over the fixture's two decode cases
// (the diagnostics print them): max |diff| vs the golden 0.023–0.025 in image units ([−1, 1]); as
// 8-bit pixels max 3 levels, mean 0.48, PSNR 50.5–50.7 dB. The bounds leave about 2x margin (PSNR:
// 2x the squared error)
const ABS_BOUND = 0.05;
const LEVELS_BOUND = 6;
const PSNR_BOUND = 47;

describe("int8 TAESD decoder (tiny-taesd vs the diffusers goldens)", () => {
  const weights = SafetensorsWeightSource.open(`${modelDir}/diffusion_pytorch_model.safetensors`);
  const graphs = {
    fp32: buildTaesdDecoderGraph(weights, config),
    int8: buildTaesdDecoderGraph(weights, config, { quantization: "int8" }),
    int8Slices: buildTaesdDecoderGraph(weights, config, { quantization: "int8", int8Im2col: "slices" }),
    int8Low: buildTaesdDecoderGraph(weights, config, { quantization: "int8", int8FullResolution: false }),
  };
  const sessions: Partial<Record<keyof typeof graphs, Session>> = {};
  before(async () => {
    for (const k of Object.keys(graphs) as (keyof typeof graphs)[]) sessions[k] = await sessionOf(graphs[k]);
  });
  after(async () => {
    for (const s of Object.values(sessions)) await s?.release();
    weights.close();
  });

  it("every decoder conv but the first and the last is an int8 product; those two stay Conv", () => {
    const decoderConvs = weights
      .names()
      .filter((k) => /^decoder\.layers\.\d+\..*weight$/.test(k) && weights.shape(k).length === 4);
    assert.equal(count(graphs.fp32, "Conv"), decoderConvs.length);
    assert.equal(count(graphs.int8, "MatMulIntegerToFloat"), decoderConvs.length - 2);
    assert.equal(count(graphs.int8, "Conv"), 2);
    const convInputs = graphs.int8.nodes.filter((n) => n.opType === "Conv").map((n) => n.inputs[1]);
    assert.deepEqual(convInputs, ["decoder.layers.0.weight", `decoder.layers.${lastConv()}.weight`]);
    // the gathered im2col: one Gather per 3x3 int8 conv, no window Slices
    assert.equal(count(graphs.int8, "Gather"), count(graphs.int8, "MatMulIntegerToFloat"));
    assert.equal(count(graphs.int8Slices, "Gather"), 0);
    // channels-last between the int8 convs: one Transpose in, one out
    assert.equal(count(graphs.int8, "Transpose"), 2);
  });

  it("int8FullResolution false: the last level's convs stay Conv too; close to fp32", async () => {
    const lastLevelConvs = 1 + 3 * config.numDecoderBlocks.at(-1)!; // the upsample's conv and the blocks'
    assert.equal(
      count(graphs.int8Low, "MatMulIntegerToFloat"),
      count(graphs.int8, "MatMulIntegerToFloat") - lastLevelConvs,
    );
    assert.equal(count(graphs.int8Low, "Conv"), 2 + lastLevelConvs);
    const c = vaeCases.find((c) => c.kind === "decode")!;
    const run = async (s: Session) =>
      (await s.run({ [TAESD_DECODER_INPUT]: goldenFeed(c.latents) }))[TAESD_DECODER_OUTPUT]
        .data as Float32Array;
    const d = maxDifference(await run(sessions.int8Low!), await run(sessions.fp32!));
    assert.ok(d.maxAbs > 0 && d.maxAbs < ABS_BOUND, `max |diff| ${d.maxAbs} vs fp32`);
  });

  function lastConv(): number {
    return Math.max(
      ...weights
        .names()
        .map((k) => /^decoder\.layers\.(\d+)\.weight$/.exec(k)?.[1])
        .filter((n) => n !== undefined)
        .map(Number),
    );
  }

  it("the encoder ignores the option: img2img's latents stay exact", () => {
    const g = buildTaesdEncoderGraph(weights, config, { quantization: "int8" });
    assert.equal(count(g, "MatMulIntegerToFloat"), 0);
  });

  it("batch 2 at an odd, non-square size: the gathered windows follow the shape; close to fp32", async () => {
    const dims = [2, config.latentChannels, 5, 7];
    const data = new Float32Array(dims.reduce((a, b) => a * b)).map((_, i) => Math.sin(i * 0.37) * 1.5);
    const run = async (s: Session) =>
      (await s.run({ [TAESD_DECODER_INPUT]: { dims, data } }))[TAESD_DECODER_OUTPUT];
    const fp32 = await run(sessions.fp32!);
    const int8 = await run(sessions.int8!);
    assert.deepEqual(int8.dims, fp32.dims);
    const d = maxDifference(int8.data as Float32Array, fp32.data as Float32Array);
    assert.ok(d.maxAbs > 0 && d.maxAbs < ABS_BOUND, `max |diff| ${d.maxAbs} vs fp32`);
    const slices = await run(sessions.int8Slices!);
    assert.equal(maxDifference(slices.data as Float32Array, int8.data as Float32Array).maxAbs, 0);
  });

  for (const c of vaeCases.filter((c) => c.kind === "decode")) {
    it(`${c.id}: int8 decode differs from fp32, within the bounds of the golden; both im2cols agree`, async (t) => {
      const run = async (s: Session) =>
        (await s.run({ [TAESD_DECODER_INPUT]: goldenFeed(c.latents) }))[TAESD_DECODER_OUTPUT];
      const fp32 = await run(sessions.fp32!);
      const int8 = await run(sessions.int8!);
      const slices = await run(sessions.int8Slices!);
      const goldenOut = golden("vae").readF32(c.taesd_decode);
      const vsFp32 = maxDifference(int8.data as Float32Array, fp32.data as Float32Array);
      const vsGolden = maxDifference(int8.data as Float32Array, goldenOut);
      const [image] = decodedToImages(int8.data as Float32Array, int8.dims);
      const [reference] = decodedToImages(goldenOut, goldenDims(c.taesd_decode));
      const px = compareImages(image, reference);
      t.diagnostic(
        `int8 vs fp32 max |diff| ${vsFp32.maxAbs.toExponential(2)}, vs golden ${vsGolden.maxAbs.toExponential(2)}; pixels vs golden max ${px.maxAbs} mean ${px.meanAbs.toFixed(3)} levels, PSNR ${px.psnrDb.toFixed(1)} dB`,
      );
      assert.ok(vsFp32.maxAbs > 0, "int8 ran: the output differs from fp32");
      assert.ok(vsGolden.maxAbs < ABS_BOUND, `max |diff| ${vsGolden.maxAbs} vs the golden`);
      assert.ok(px.maxAbs <= LEVELS_BOUND, `${px.maxAbs} levels off the golden's pixels`);
      assert.ok(px.psnrDb > PSNR_BOUND, `PSNR ${px.psnrDb.toFixed(1)} dB vs the golden's pixels`);
      assert.equal(maxDifference(slices.data as Float32Array, int8.data as Float32Array).maxAbs, 0);
    });
  }
});

describe("taesdQuantization as an option", () => {
  it("the policy names the inner decoder convs and refuses unknown kinds", () => {
    const p = taesdDecoderInt8Policy("int8", 18)!;
    for (const k of ["decoder.layers.2.conv.0", "decoder.layers.6", "decoder.layers.17.conv.4"])
      assert.equal(p.conv(k), true, k);
    for (const k of ["decoder.layers.0", "decoder.layers.18", "encoder.layers.3.conv.0"])
      assert.equal(p.conv(k), false, k);
    assert.equal(taesdDecoderInt8Policy("none", 18), undefined);
    assert.throws(() => taesdDecoderInt8Policy("int4" as "int8", 18), /unknown TAESD quantization "int4"/);
  });

  it("openPipeline refuses an unknown kind with a one-line error naming TAESD", async () => {
    await assert.rejects(
      openPipeline(fixturePath("models/tiny-sd15"), {
        taesd: modelDir,
        runtime: { cache: false },
        speed: { decoder: "taesd", taesdQuantization: "int4" as "int8" },
      }),
      /^Error: unknown TAESD quantization "int4" \(expected none, int8\)$/,
    );
  });

  it("a job validates it; explicit settings reach the job with TAESD weights only; none stays unset", () => {
    assert.deepEqual(validateJobEngine({ speed: { taesdQuantization: "int8" } }), {
      speed: { taesdQuantization: "int8" },
    });
    assert.throws(
      () => validateJobEngine({ speed: { taesdQuantization: "int8-linear" } }),
      /engine setting speed\.taesdQuantization must be one of/,
    );
    assert.deepEqual(speedSettings(undefined, { taesdQuantization: "int8" }, "/t"), {
      taesd: "/t",
      speed: { taesdQuantization: "int8", decoder: "taesd" },
    });
    assert.deepEqual(speedSettings(undefined, { taesdQuantization: "int8" }, undefined), { speed: {} });
    assert.deepEqual(speedSettings(undefined, { taesdQuantization: "none" }, "/t"), {
      taesd: "/t",
      speed: { decoder: "taesd" },
    });
  });

  it("--quantize-taesd reaches the job's engine settings", async () => {
    const quiet: ProgressReporter = { phase() {}, download() {}, generation() {}, note() {}, finish() {} };
    const build = async (quantizeTaesd: "none" | "int8") => {
      const o = {
        model: fixturePath("models/tiny-sd15"),
        lora: [],
        output: "unused",
        taesd: modelDir,
        quantizeTaesd,
      };
      return (await buildCliJob("a cat", o, quiet, new AbortController().signal, 0)).job.engine.speed;
    };
    assert.equal((await build("int8"))?.taesdQuantization, "int8");
    assert.equal((await build("none"))?.taesdQuantization, undefined);
  });

  it("infotext names it when TAESD made the image, not for previews alone", () => {
    assert.deepEqual(speedEntries({ decoder: "taesd", taesdQuantization: "int8" }), {
      "VAE Decoder": "TAESD",
      "TAESD quantization": "int8",
    });
    assert.deepEqual(speedEntries({ decoder: "vae", taesdQuantization: "int8" }), {});
    assert.deepEqual(speedEntries({ decoder: "taesd", taesdQuantization: "none" }), {
      "VAE Decoder": "TAESD",
    });
  });

  describe("graph cache", () => {
    const root = mkdtempSync(join(tmpdir(), "sdlite-taesd-int8-"));
    after(() => rmSync(root, { recursive: true, force: true }));

    it("the int8 decoder gets its own cache entry; the float one is kept", async () => {
      const taesd = openTaesd(modelDir);
      const cache = new GraphCache(root);
      const ctx: NetworkContext = {
        target: { runtime: onnxruntimeNode(), session: { intraOpNumThreads: 1 } },
        variant: {
          attention: { textEncoder: "mha", unet: "mha", vae: "mha" },
          weightStorage: "fp32",
          computePrecision: "fp32",
          fusedOps: [],
        },
        graphs: diskGraphSessions(cache),
        int8WeightBits: int8WeightBitsForThisCpu,
        modelPath: modelDir,
      };
      try {
        for (const quantization of ["none", "int8", "none"] as const) {
          const part = buildNetwork(
            NETWORK_FACTORIES.taesd,
            { kind: "weights", weights: { component: taesd, weights: taesd.weights } },
            ctx,
            { quantization },
          );
          await part.session.get();
          await part.session.release();
        }
      } finally {
        taesd.close();
      }
      const entries = readdirSync(cache.dir).filter((e) => e.startsWith("taesd_decoder-"));
      assert.equal(entries.length, 2, "float and int8 decoders");
      const int8Graphs = entries.filter((e) =>
        readFileSync(join(cache.dir, e, "model.onnx")).includes("DynamicQuantize"),
      );
      assert.equal(int8Graphs.length, 1);
    });
  });
});
