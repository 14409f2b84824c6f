/**
 * int8 beyond the UNet: the VAE decoder's block convs and the text encoder's transformer linears
 * (vae-quantization.ts, text-encoder-quantization.ts over int8-layers.ts). The graphs really hold the
 * integer ops, their outputs differ from fp32 yet stay within measured bounds of the diffusers /
 * transformers goldens, and the options reach the engine, the job, the infotext and the cache key.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GraphCache } from "../src/cache/graph-cache.js";
import { diskGraphSessions } from "../src/engine/disk-graph-sessions.js";
import type { SpeedOptions } from "../src/engine/engine-options.js";
import { int8WeightBitsForThisCpu } from "../src/engine/int8-weight-bits.js";
import type { NetworkContext } from "../src/engine/networks/network-factory.js";
import { buildNetwork, NETWORK_FACTORIES } from "../src/engine/networks/registry.js";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import type { GraphBuilder } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import {
  buildTextEncoderGraph,
  clipSkipOutput,
  TEXT_ENCODER_INPUT,
  TEXT_ENCODER_OUTPUT,
} from "../src/graph/text-encoder.js";
import { textEncoderInt8Policy } from "../src/graph/text-encoder-quantization.js";
import {
  buildVaeDecoderGraph,
  buildVaeEncoderGraph,
  VAE_DECODER_INPUT,
  VAE_DECODER_OUTPUT,
} from "../src/graph/vae.js";
import { vaeDecoderInt8Policy } from "../src/graph/vae-quantization.js";
import { generate } from "../src/pipeline/generate.js";
import { speedEntries } from "../src/pipeline/generation-record.js";
import { speedSettings, validateJobEngine } from "../src/pipeline/job-engine.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import { parseTextEncoderConfig } from "../src/weights/architecture/diffusers-config.js";
import { loadModel } from "../src/weights/load-model.js";
import { SafetensorsWeightSource } from "../src/weights/safetensors-weight-source.js";
import { maxDifference } from "./helpers/assert-close.js";
import { fixturePath, golden, manifest } from "./helpers/fixtures.js";
import { caseRequest, pipelineCases } from "./helpers/pipeline-cases.js";
import { goldenDims, vaeCases, vaeConfig, vaeModelDir } from "./helpers/vae-fixtures.js";

const ops = (g: GraphBuilder) => g.nodes.map((n) => n.opType);
const count = (g: GraphBuilder, op: string) => ops(g).filter((o) => o === op).length;

async function sessionOf(g: GraphBuilder): Promise<Session> {
  return onnxruntimeNode().createSession(serializeModel(g), { intraOpNumThreads: 1 });
}

// max |diff| vs the goldens measured on tiny-sd15 with 8-bit weight codes (the diagnostics print it):
// VAE decode 0.094–0.129 (image units, about [−1, 1]); text encoder 0.068–0.100. About 2x margin.
const VAE_BOUND = 0.25;
const TEXT_BOUND = 0.2;
// image PSNR vs the exact pipeline over the four fixture txt2img cases: measured 40.4–45.1 dB (int8 VAE)
// and 52.5–59.5 dB (int8 text encoder)
const PIPELINE_PSNR = { vae: 35, "text encoder": 45 } as const;

describe("int8 VAE decoder (tiny-sd15 vs the diffusers goldens)", () => {
  const weights = SafetensorsWeightSource.open(`${vaeModelDir}/diffusion_pytorch_model.safetensors`);
  const graphs = {
    fp32: buildVaeDecoderGraph(weights, vaeConfig, { attention: "mha" }),
    int8: buildVaeDecoderGraph(weights, vaeConfig, { attention: "mha", quantization: "int8" }),
  };
  const sessions: Partial<Record<keyof typeof graphs, Session>> = {};
  before(async () => {
    for (const k of ["fp32", "int8"] as const) sessions[k] = await sessionOf(graphs[k]);
  });
  after(async () => {
    for (const s of Object.values(sessions)) await s?.release();
    weights.close();
  });

  it("every conv of the mid and up blocks is an int8 MatMulIntegerToFloat; post_quant_conv, conv_in, conv_out stay Conv", () => {
    const blockConvs = weights
      .names()
      .filter((k) => /^decoder\.(mid_block|up_blocks)\..*\.weight$/.test(k) && weights.shape(k).length === 4);
    assert.ok(blockConvs.length > 0);
    assert.equal(count(graphs.int8, "MatMulIntegerToFloat"), blockConvs.length);
    assert.equal(count(graphs.int8, "Conv"), 3);
    assert.equal(count(graphs.fp32, "MatMulIntegerToFloat"), 0);
    // the mid block's attention linears stay float
    assert.equal(count(graphs.int8, "DynamicQuantizeMatMul"), 0);
  });

  it("the encoder ignores the option: img2img's latents stay exact", () => {
    const g = buildVaeEncoderGraph(weights, vaeConfig, { attention: "mha", quantization: "int8" });
    assert.equal(count(g, "MatMulIntegerToFloat"), 0);
  });

  for (const c of vaeCases.filter((c) => c.kind === "decode")) {
    it(`${c.id}: int8 decode differs from fp32, within the bound of the golden`, async (t) => {
      const g = golden("vae");
      const scale = Math.fround(vaeConfig.scalingFactor);
      const input = { dims: goldenDims(c.latents), data: g.readF32(c.latents).map((v) => v / scale) };
      const run = async (s: Session) =>
        (await s.run({ [VAE_DECODER_INPUT]: input }))[VAE_DECODER_OUTPUT].data as Float32Array;
      const fp32 = await run(sessions.fp32!);
      const int8 = await run(sessions.int8!);
      const vsFp32 = maxDifference(int8, fp32);
      const vsGolden = maxDifference(int8, g.readF32(c.vae_decode));
      t.diagnostic(
        `int8 vs fp32 max |diff| ${vsFp32.maxAbs.toExponential(2)}, vs golden ${vsGolden.maxAbs.toExponential(2)}`,
      );
      assert.ok(vsFp32.maxAbs > 0, "int8 ran: the output differs from fp32");
      assert.ok(vsGolden.maxAbs < VAE_BOUND, `max |diff| ${vsGolden.maxAbs} vs the golden`);
    });
  }
});

interface TextCase {
  id: string;
  input_ids: string;
  last_hidden_state: string;
  clip_skip_1: string;
}

describe("int8 text encoder (tiny-sd15 vs the transformers goldens)", () => {
  const dir = fixturePath(manifest().text_encoder.model);
  const config = parseTextEncoderConfig(JSON.parse(readFileSync(`${dir}/config.json`, "utf-8")));
  const weights = SafetensorsWeightSource.open(`${dir}/model.safetensors`);
  const options = { attention: "mha", clipSkips: [1] } as const;
  const graphs = {
    fp32: buildTextEncoderGraph(weights, config, options),
    int8: buildTextEncoderGraph(weights, config, { ...options, quantization: "int8" }),
  };
  const sessions: Partial<Record<keyof typeof graphs, Session>> = {};
  before(async () => {
    for (const k of ["fp32", "int8"] as const) sessions[k] = await sessionOf(graphs[k]);
  });
  after(async () => {
    for (const s of Object.values(sessions)) await s?.release();
    weights.close();
  });

  it("the six linears of every layer are DynamicQuantizeMatMul, nothing else", () => {
    assert.equal(count(graphs.int8, "DynamicQuantizeMatMul"), 6 * config.numHiddenLayers);
    assert.equal(count(graphs.fp32, "DynamicQuantizeMatMul"), 0);
    assert.equal(count(graphs.int8, "MatMulIntegerToFloat"), 0);
  });

  for (const c of manifest().text_encoder.cases as TextCase[]) {
    it(`${c.id}: int8 last_hidden_state and clip_skip_1 differ from fp32, within the bound of the golden`, async (t) => {
      const g = golden("text_encoder");
      const ids = Int32Array.from(g.readInts(c.input_ids));
      const feeds = { [TEXT_ENCODER_INPUT]: { dims: [1, ids.length], data: ids } };
      const fp32 = await sessions.fp32!.run(feeds);
      const int8 = await sessions.int8!.run(feeds);
      for (const [output, key] of [
        [TEXT_ENCODER_OUTPUT, c.last_hidden_state],
        [clipSkipOutput(1), c.clip_skip_1],
      ] as const) {
        const got = int8[output].data as Float32Array;
        const vsFp32 = maxDifference(got, fp32[output].data as Float32Array);
        const vsGolden = maxDifference(got, g.readF32(key));
        t.diagnostic(
          `${output}: int8 vs fp32 max |diff| ${vsFp32.maxAbs.toExponential(2)}, vs golden ${vsGolden.maxAbs.toExponential(2)}`,
        );
        assert.ok(vsFp32.maxAbs > 0, `${output}: int8 ran, the output differs from fp32`);
        assert.ok(vsGolden.maxAbs < TEXT_BOUND, `${output}: max |diff| ${vsGolden.maxAbs} vs the golden`);
      }
    });
  }
});

function psnr(a: Uint8Array | Uint8ClampedArray, b: Uint8Array | Uint8ClampedArray): number {
  let squares = 0;
  for (let i = 0; i < a.length; i++) squares += (a[i] - b[i]) ** 2;
  return squares === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / (squares / a.length));
}

describe("int8 VAE and text encoder through openPipeline (tiny-sd15, fixture txt2img cases)", () => {
  const opened: OpenedPipeline[] = [];
  after(async () => {
    for (const p of opened) await p.close();
  });

  it("EngineOptions.speed reaches the graphs: images differ from the exact ones, within the PSNR bound", async (t) => {
    const open = async (speed: SpeedOptions) => {
      const p = await openPipeline(fixturePath("models/tiny-sd15"), {
        runtime: { cache: false, threads: 1 },
        speed,
      });
      opened.push(p);
      return p;
    };
    const exact = await open({});
    const variants = {
      vae: await open({ vaeQuantization: "int8" }),
      "text encoder": await open({ textEncoderQuantization: "int8" }),
    };
    for (const c of pipelineCases("txt2img")) {
      const request = caseRequest(c);
      const imageOf = async (p: OpenedPipeline) => (await generate(p.models, request))[0].image.data;
      const reference = await imageOf(exact);
      for (const name of ["vae", "text encoder"] as const) {
        const p = variants[name];
        const db = psnr(await imageOf(p), reference);
        t.diagnostic(`${c.id} int8 ${name}: image PSNR ${db.toFixed(1)} dB`);
        assert.ok(Number.isFinite(db), `${c.id} int8 ${name}: the image differs from the exact one`);
        assert.ok(db > PIPELINE_PSNR[name], `${c.id} int8 ${name}: image PSNR ${db.toFixed(1)} dB`);
      }
    }
  });
});

describe("vaeQuantization / textEncoderQuantization as options", () => {
  it("the policies name their layers and refuse unknown kinds", () => {
    const vae = vaeDecoderInt8Policy("int8")!;
    assert.equal(vae.conv("decoder.up_blocks.0.resnets.1.conv2"), true);
    assert.equal(vae.conv("decoder.mid_block.resnets.0.conv1"), true);
    for (const k of [
      "decoder.conv_in",
      "decoder.conv_out",
      "post_quant_conv",
      "encoder.down_blocks.0.resnets.0.conv1",
    ])
      assert.equal(vae.conv(k), false, k);
    assert.equal(vae.linear("decoder.mid_block.attentions.0.to_q"), false);
    const te = textEncoderInt8Policy("int8")!;
    assert.equal(te.linear("text_model.encoder.layers.3.mlp.fc1"), true);
    assert.equal(te.conv("text_model.encoder.layers.3.mlp.fc1"), false);
    assert.equal(vaeDecoderInt8Policy("none"), undefined);
    assert.equal(textEncoderInt8Policy("none"), undefined);
    assert.throws(() => vaeDecoderInt8Policy("int4" as "int8"), /unknown VAE quantization "int4"/);
    assert.throws(() => textEncoderInt8Policy("int4" as "int8"), /unknown text encoder quantization "int4"/);
  });

  it("openPipeline refuses an unknown kind with a one-line error naming the network", async () => {
    const model = fixturePath("models/tiny-sd15");
    await assert.rejects(
      openPipeline(model, { runtime: { cache: false }, speed: { vaeQuantization: "int4" as "int8" } }),
      /^Error: unknown VAE quantization "int4" \(expected none, int8\)$/,
    );
    await assert.rejects(
      openPipeline(model, {
        runtime: { cache: false },
        speed: { textEncoderQuantization: "int8-linear" as "int8" },
      }),
      /^Error: unknown text encoder quantization "int8-linear" \(expected none, int8\)$/,
    );
  });

  it("a job validates them, --quantize-* style explicit settings reach the job, none stays unset", () => {
    assert.deepEqual(
      validateJobEngine({ speed: { vaeQuantization: "int8", textEncoderQuantization: "int8" } }),
      {
        speed: { vaeQuantization: "int8", textEncoderQuantization: "int8" },
      },
    );
    assert.throws(
      () => validateJobEngine({ speed: { vaeQuantization: "int8-linear" } }),
      /engine setting speed\.vaeQuantization must be one of/,
    );
    assert.throws(
      () => validateJobEngine({ speed: { textEncoderQuantization: 8 } }),
      /textEncoderQuantization/,
    );
    assert.deepEqual(
      speedSettings(undefined, { vaeQuantization: "int8", textEncoderQuantization: "int8" }, undefined),
      {
        speed: { vaeQuantization: "int8", textEncoderQuantization: "int8" },
      },
    );
    assert.deepEqual(
      speedSettings(undefined, { vaeQuantization: "none", textEncoderQuantization: "none" }, undefined),
      {
        speed: {},
      },
    );
  });

  it("infotext: our own keys when int8 ran, none at the defaults, no VAE entry when TAESD decoded", () => {
    assert.deepEqual(speedEntries({ vaeQuantization: "int8", textEncoderQuantization: "int8" }), {
      "VAE quantization": "int8",
      "Text encoder quantization": "int8",
    });
    assert.deepEqual(speedEntries({ vaeQuantization: "none", textEncoderQuantization: "none" }), {});
    assert.deepEqual(speedEntries({ vaeQuantization: "int8", decoder: "taesd" }), { "VAE Decoder": "TAESD" });
  });

  describe("graph cache", () => {
    const root = mkdtempSync(join(tmpdir(), "sdlite-int8more-"));
    after(() => rmSync(root, { recursive: true, force: true }));

    it("int8 decoder and text encoder get their own cache entries; the float ones and the encoder are kept", async () => {
      const model = loadModel(fixturePath("models/tiny-sd15"));
      if (model.format === "onnx" || !model.vae)
        throw new Error("tiny-sd15 is a diffusers folder with a VAE");
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
        modelPath: model.path,
      };
      const lora = { fingerprint: "", changed: false };
      const vae = model.vae;
      const te = model.textEncoder;
      try {
        for (const quantization of ["none", "int8"] as const) {
          const parts = buildNetwork(
            NETWORK_FACTORIES.vae,
            { kind: "weights", weights: { component: vae, weights: vae.weights } },
            ctx,
            { quantization },
          );
          const text = buildNetwork(
            NETWORK_FACTORIES.textEncoder,
            { kind: "weights", weights: { component: te, weights: te.weights, lora } },
            ctx,
            { quantization },
          );
          const sessions = [parts.decoder.session, parts.encoder!.session, ...text.sessions];
          for (const s of sessions) await s.get();
          for (const s of sessions) await s.release();
        }
      } finally {
        model.close();
      }
      const entries = (kind: string) => readdirSync(cache.dir).filter((e) => e.startsWith(`${kind}-`));
      assert.equal(entries("vae_decoder").length, 2, "float and int8 decoders");
      assert.equal(entries("text_encoder").length, 2, "float and int8 text encoders");
      assert.equal(entries("vae_encoder").length, 1, "one encoder for both");
      const int8Graphs = [...entries("vae_decoder"), ...entries("text_encoder")].filter((e) =>
        readFileSync(join(cache.dir, e, "model.onnx")).includes("DynamicQuantize"),
      );
      assert.equal(int8Graphs.length, 2, "one int8 graph of each");
    });
  });
});
