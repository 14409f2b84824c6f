import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { serializeModel } from "../src/graph/onnx-model.js";
import {
  buildTaesdDecoderGraph,
  buildTaesdEncoderGraph,
  TAESD_DECODER_INPUT,
  TAESD_DECODER_OUTPUT,
  TAESD_ENCODER_INPUT,
  TAESD_ENCODER_OUTPUT,
} from "../src/graph/taesd.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import { writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { madebyollinTaesdRename } from "../src/weights/key-maps/taesd-key-map.js";
import { madebyollinTaesdFiles, openMadebyollinTaesd } from "../src/weights/madebyollin-taesd.js";
import { ModelLoadError } from "../src/weights/model-load-error.js";
import { SafetensorsWeightSource } from "../src/weights/safetensors-weight-source.js";
import { openTaesd } from "../src/weights/standalone-vae.js";
import type { WeightSource } from "../src/weights/weight-source.js";
import { assertClose } from "./helpers/assert-close.js";
import { golden } from "./helpers/fixtures.js";
import {
  assertVaeGolden,
  vaeCases as cases,
  codecSessions,
  taesdConfig as config,
  goldenDims as dimsOf,
  goldenFeed,
  taesdModelDir as modelDir,
  vaeTolerance as tolerance,
  type VaeCase,
} from "./helpers/vae-fixtures.js";

// the Winograd convs (graph/winograd-conv.ts) are held to the same tolerance as the direct ones
for (const convAlgorithm of ["direct", "winograd-f2", "winograd-f4"] as const) {
  describe(`TAESD graphs (${convAlgorithm} convs) vs diffusers AutoencoderTiny goldens`, () => {
    let decoder: Session;
    let encoder: Session;

    before(async () => {
      const options = { convAlgorithm };
      ({ decoder, encoder } = await codecSessions(modelDir, {
        decoder: (weights) => buildTaesdDecoderGraph(weights, config, options),
        encoder: (weights) => buildTaesdEncoderGraph(weights, config, options),
      }));
    });
    after(async () => {
      await decoder?.release();
      await encoder?.release();
    });

    for (const c of cases.filter((c) => c.kind === "decode")) {
      it(`${c.id}: taesd_decode within ${tolerance}`, async (t) => {
        const out = await decoder.run({ [TAESD_DECODER_INPUT]: goldenFeed(c.latents) });
        const diff = assertVaeGolden(out[TAESD_DECODER_OUTPUT], c.taesd_decode, `${c.id} taesd_decode`);
        t.diagnostic(`max |diff| ${diff.maxAbs.toExponential(2)}`);
      });
    }

    for (const c of cases.filter((c) => c.kind === "encode")) {
      it(`${c.id}: taesd_encode within ${tolerance}`, async (t) => {
        const out = await encoder.run({ [TAESD_ENCODER_INPUT]: goldenFeed(c.image) });
        const diff = assertVaeGolden(out[TAESD_ENCODER_OUTPUT], c.taesd_encode, `${c.id} taesd_encode`);
        t.diagnostic(`max |diff| ${diff.maxAbs.toExponential(2)}`);
      });
    }
  });
}

it("TAESD's Winograd graphs transform every stride-1 3x3 conv (F(4x4) under winograd-f4) and keep the rest direct", () => {
  const weights = SafetensorsWeightSource.open(`${modelDir}/diffusion_pytorch_model.safetensors`);
  try {
    const kernels3x3 = (prefix: string) =>
      weights
        .names()
        .filter((n) => n.startsWith(prefix) && n.endsWith(".weight") && weights.shape(n)[2] === 3)
        .sort();
    // each encoder level after the first starts with a stride-2 conv, which stays direct
    const strideTwo = config.numEncoderBlocks.length - 1;
    for (const [tile, algorithm] of [
      [2, "winograd-f2"],
      [4, "winograd-f4"],
    ] as const) {
      const transformed = (g: { initializers: { name: string }[] }) =>
        g.initializers
          .map((i) => i.name)
          .filter((n) => n.includes(":winograd"))
          .map((n) => {
            assert.ok(n.endsWith(`:winograd${tile}`), `${algorithm}: ${n}`);
            return n.replace(/:winograd\d$/, "");
          })
          .sort();
      const decoder = transformed(buildTaesdDecoderGraph(weights, config, { convAlgorithm: algorithm }));
      const encoder = transformed(buildTaesdEncoderGraph(weights, config, { convAlgorithm: algorithm }));
      assert.deepEqual(decoder, kernels3x3("decoder."), `${algorithm} decoder`);
      const encoderKernels = kernels3x3("encoder.");
      assert.ok(encoder.every((n) => encoderKernels.includes(n)));
      assert.equal(encoder.length, encoderKernels.length - strideTwo, `${algorithm} encoder`);
    }
    const direct = buildTaesdDecoderGraph(weights, config).initializers;
    assert.equal(direct.filter((i) => i.name.includes(":winograd")).length, 0, "direct");
  } finally {
    weights.close();
  }
});

it("madebyollinTaesdRename: encoder indices as they are, decoder indices − 1 (the Clamp), prefixed module keys", () => {
  const encoder = madebyollinTaesdRename(["0.weight", "0.bias", "1.conv.0.weight", "2.weight"]);
  assert.equal(encoder?.("1.conv.0.weight"), "encoder.layers.1.conv.0.weight");
  assert.equal(encoder?.("2.weight"), "encoder.layers.2.weight");
  const decoder = madebyollinTaesdRename(["1.weight", "1.bias", "3.conv.4.bias", "18.weight"]);
  assert.equal(decoder?.("1.weight"), "decoder.layers.0.weight");
  assert.equal(decoder?.("3.conv.4.bias"), "decoder.layers.2.conv.4.bias");
  const whole = madebyollinTaesdRename(["encoder.0.weight", "decoder.1.weight", "decoder.19.bias"]);
  assert.equal(whole?.("encoder.0.weight"), "encoder.layers.0.weight");
  assert.equal(whole?.("decoder.19.bias"), "decoder.layers.18.bias");
  assert.equal(madebyollinTaesdRename(["encoder.layers.0.weight", "decoder.layers.0.weight"]), undefined);
  assert.equal(madebyollinTaesdRename(["2.weight", "3.conv.0.weight"]), undefined);
});

describe("TAESD from madebyollin's own files", () => {
  const dir = mkdtempSync(join(tmpdir(), "sdlite-taesd-"));
  const diffusers = SafetensorsWeightSource.open(`${modelDir}/diffusion_pytorch_model.safetensors`);
  // write the tiny TAESD the way madebyollin/taesd lays its files out
  const write = (file: string, rename: (name: string) => string | undefined) => {
    const tensors = diffusers.names().flatMap((name) => {
      const key = rename(name);
      return key === undefined
        ? []
        : [{ name: key, dtype: "F32" as const, shape: diffusers.shape(name), data: diffusers.get(name) }];
    });
    writeSafetensors(join(dir, file), tensors);
    return join(dir, file);
  };
  const layer = (half: string, offset: number, prefix: string) => (name: string) => {
    const m = new RegExp(`^${half}\\.layers\\.(\\d+)\\.(.+)$`).exec(name);
    return m ? `${prefix}${Number(m[1]) + offset}.${m[2]}` : undefined;
  };
  const encoderFile = write("taesd_encoder.safetensors", layer("encoder", 0, ""));
  const decoderFile = write("taesd_decoder.safetensors", layer("decoder", 1, ""));
  const wholeFile = write(
    "taesd.safetensors",
    (n) => layer("encoder", 0, "encoder.")(n) ?? layer("decoder", 1, "decoder.")(n),
  );
  const g = golden("vae");
  const decodeCase = cases.find((c) => c.kind === "decode") as VaeCase;
  const encodeCase = cases.find((c) => c.kind === "encode") as VaeCase;

  after(() => {
    diffusers.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function assertSameWeights(weights: WeightSource, names: readonly string[], label: string): void {
    assert.deepEqual([...weights.names()].sort(), [...names].sort(), `${label}: tensor names`);
    for (const n of names) assert.deepEqual(weights.get(n), diffusers.get(n), `${label}: ${n}`);
  }

  async function run(
    graph: ReturnType<typeof buildTaesdDecoderGraph>,
    input: string,
    key: string,
    output: string,
  ) {
    const session = await onnxruntimeNode().createSession(serializeModel(graph), { intraOpNumThreads: 1 });
    try {
      const out = await session.run({ [input]: { dims: dimsOf(key), data: g.readF32(key) } });
      return out[output].data as Float32Array;
    } finally {
      await session.release();
    }
  }

  for (const [label, paths] of [
    [
      "taesd_encoder + taesd_decoder",
      () => madebyollinTaesdFiles(dir)?.filter((p) => !p.endsWith("taesd.safetensors")),
    ],
    ["one file with the whole TAESD module", () => [wholeFile]],
  ] as const) {
    it(`${label}: the diffusers tensors and config; both graphs match the goldens`, async () => {
      const list = paths();
      assert.ok(list);
      const taesd = openMadebyollinTaesd(list);
      try {
        assert.deepEqual(taesd.config, config);
        assert.deepEqual(taesd.assumed, {});
        assert.deepEqual(taesd.storedDtypes, ["F32"]);
        assertSameWeights(taesd.weights, diffusers.names(), label);
        const decoded = await run(
          buildTaesdDecoderGraph(taesd.weights, taesd.config),
          TAESD_DECODER_INPUT,
          decodeCase.latents,
          TAESD_DECODER_OUTPUT,
        );
        assertClose(
          decoded,
          g.readF32(decodeCase.taesd_decode),
          tolerance,
          `${label}: ${decodeCase.id} taesd_decode`,
        );
        const encoded = await run(
          buildTaesdEncoderGraph(taesd.weights, taesd.config),
          TAESD_ENCODER_INPUT,
          encodeCase.image,
          TAESD_ENCODER_OUTPUT,
        );
        assertClose(
          encoded,
          g.readF32(encodeCase.taesd_encode),
          tolerance,
          `${label}: ${encodeCase.id} taesd_encode`,
        );
      } finally {
        taesd.close();
      }
    });
  }

  it("taesd_decoder alone: the decoder loads and decodes; the encoder's config is assumed and its graph refused", async () => {
    assert.deepEqual(madebyollinTaesdFiles(dir), [encoderFile, decoderFile]);
    const taesd = openMadebyollinTaesd(decoderFile);
    try {
      assert.deepEqual(taesd.config.numDecoderBlocks, config.numDecoderBlocks);
      assert.deepEqual(taesd.config.decoderBlockOutChannels, config.decoderBlockOutChannels);
      assert.deepEqual(taesd.assumed, { encoderBlockOutChannels: "default", numEncoderBlocks: "default" });
      assertSameWeights(
        taesd.weights,
        diffusers.names().filter((n) => n.startsWith("decoder.")),
        "decoder only",
      );
      const decoded = await run(
        buildTaesdDecoderGraph(taesd.weights, taesd.config),
        TAESD_DECODER_INPUT,
        decodeCase.latents,
        TAESD_DECODER_OUTPUT,
      );
      assertClose(
        decoded,
        g.readF32(decodeCase.taesd_decode),
        tolerance,
        `decoder only: ${decodeCase.id} taesd_decode`,
      );
      assert.throws(
        () => buildTaesdEncoderGraph(taesd.weights, taesd.config),
        /encoder\.layers\.0\.weight" is missing/,
      );
    } finally {
      taesd.close();
    }
  });

  it("the model loader's openTaesd takes madebyollin's folder and files too", () => {
    const folder = openTaesd(dir);
    const decoderOnly = openTaesd(decoderFile);
    try {
      assert.deepEqual(folder.files, [encoderFile, decoderFile]);
      assert.deepEqual(folder.config, config);
      assertSameWeights(folder.weights, diffusers.names(), "openTaesd(folder)");
      assert.deepEqual(decoderOnly.files, [decoderFile]);
      assert.deepEqual(decoderOnly.assumed, {
        encoderBlockOutChannels: "default",
        numEncoderBlocks: "default",
      });
    } finally {
      folder.close();
      decoderOnly.close();
    }
  });

  it("refuses a file in another layout, naming the expected keys", () => {
    assert.throws(
      () => openMadebyollinTaesd(`${modelDir}/diffusion_pytorch_model.safetensors`),
      (err: unknown) =>
        err instanceof ModelLoadError && err.reason === "unknown-format" && /0\.weight/.test(err.message),
    );
  });
});
