/**
 * The exact default's conv algorithm (engine/conv-algorithm-choice.ts): what was asked for stands;
 * unset, Winograd only for a float32 UNet on the CPU with the RAM for it, direct everywhere else.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { fileIdentity, graphCacheKey } from "../src/cache/graph-cache.js";
import {
  CODEC_DEFAULTS,
  type ConvAlgorithmContext,
  chooseConvAlgorithm,
  chooseConvAlgorithms,
  DEFAULT_WINOGRAD,
  type DecoderConvContext,
  WINOGRAD_FROM_BYTES,
} from "../src/engine/conv-algorithm-choice.js";
import type { GraphRequest, GraphSessions } from "../src/engine/graph-sessions.js";
import { graphVariantFor } from "../src/engine/graph-variant.js";
import type { NetworkContext } from "../src/engine/networks/network-factory.js";
import { TAESD_DECODER } from "../src/engine/networks/taesd.js";
import { AUTOENCODER_KL } from "../src/engine/networks/vae.js";
import type { ConvAlgorithm } from "../src/graph/conv-algorithm.js";
import type { Runtime, Session } from "../src/runtime/runtime.js";
import { loadModel } from "../src/weights/load-model.js";
import type { LoadedWeightsModel } from "../src/weights/loaded-model.js";
import { openTaesd } from "../src/weights/standalone-vae.js";
import { fixturePath } from "./helpers/fixtures.js";

const GIB = 2 ** 30;
const bigCpu: ConvAlgorithmContext = {
  executionProviders: undefined,
  unetQuantization: "none",
  attentionQuantization: "none",
  precision: undefined,
  totalMemoryBytes: 24 * GIB,
};

describe("chooseConvAlgorithm", () => {
  it("takes Winograd for a float UNet on the CPU with 16 GiB or more, and says why", () => {
    assert.deepEqual(chooseConvAlgorithm(undefined, bigCpu), {
      algorithm: DEFAULT_WINOGRAD,
      reason: "24.0 GiB of RAM",
    });
    assert.equal(DEFAULT_WINOGRAD, "winograd-f4-shallow");
    const cpuNamed = { ...bigCpu, executionProviders: ["cpu"], precision: "fp32" as const };
    assert.equal(chooseConvAlgorithm(undefined, cpuNamed).algorithm, DEFAULT_WINOGRAD);
    const atThreshold = { ...bigCpu, totalMemoryBytes: WINOGRAD_FROM_BYTES };
    assert.equal(chooseConvAlgorithm(undefined, atThreshold).algorithm, DEFAULT_WINOGRAD);
  });

  it("stays direct below 16 GiB, on other providers, for int8 and for fp16", () => {
    const cases: [Partial<ConvAlgorithmContext>, RegExp][] = [
      [{ totalMemoryBytes: WINOGRAD_FROM_BYTES - 1 }, /16\.0 GiB of RAM/],
      [{ totalMemoryBytes: 8 * GIB }, /8\.0 GiB of RAM/],
      [{ executionProviders: ["webgpu", "cpu"] }, /webgpu/],
      [{ executionProviders: ["dml"] }, /dml/],
      [{ unetQuantization: "int8" }, /int8/],
      [{ unetQuantization: "int8-linear" }, /int8/],
      [{ attentionQuantization: "int8" }, /int8/],
      [{ precision: "fp16" }, /fp16/],
    ];
    for (const [change, reason] of cases) {
      const choice = chooseConvAlgorithm(undefined, { ...bigCpu, ...change });
      assert.equal(choice.algorithm, "direct", JSON.stringify(change));
      assert.match(choice.reason, reason);
    }
  });

  it("keeps what was asked for, whatever the machine", () => {
    for (const asked of ["direct", "winograd-f2", "winograd-f4"] as const) {
      for (const ctx of [
        bigCpu,
        { ...bigCpu, totalMemoryBytes: 4 * GIB },
        { ...bigCpu, unetQuantization: "int8" },
      ]) {
        assert.deepEqual(chooseConvAlgorithm(asked, ctx), { algorithm: asked, reason: "asked for" });
      }
    }
  });
});

describe("chooseConvAlgorithms: one choice per network", () => {
  it("on a CPU with 16 GiB or more: the UNet's rule, the measured codec defaults, each with its reason", () => {
    const c = chooseConvAlgorithms(undefined, bigCpu);
    assert.deepEqual(c.unet, chooseConvAlgorithm(undefined, bigCpu));
    for (const network of ["vaeDecoder", "vaeEncoder", "taesdDecoder"] as const) {
      assert.equal(c[network].algorithm, CODEC_DEFAULTS[network].algorithm, network);
      assert.ok(c[network].reason.includes(CODEC_DEFAULTS[network].measured), c[network].reason);
    }
  });

  it("TAESD keeps its choice under an int8 UNet (--fast), the VAE decoder goes direct when int8", () => {
    const fast = chooseConvAlgorithms(undefined, { ...bigCpu, unetQuantization: "int8" });
    assert.equal(fast.unet.algorithm, "direct");
    assert.equal(fast.taesdDecoder.algorithm, CODEC_DEFAULTS.taesdDecoder.algorithm);
    const int8Vae = chooseConvAlgorithms(undefined, { ...bigCpu, vaeQuantization: "int8" });
    assert.deepEqual(int8Vae.vaeDecoder, { algorithm: "direct", reason: "int8 VAE decoder" });
    assert.equal(int8Vae.vaeEncoder.algorithm, CODEC_DEFAULTS.vaeEncoder.algorithm);
  });

  it("every network direct below 16 GiB, on other providers and for fp16", () => {
    const cases: [Partial<DecoderConvContext>, RegExp][] = [
      [{ totalMemoryBytes: WINOGRAD_FROM_BYTES - 1 }, /16\.0 GiB of RAM/],
      [{ executionProviders: ["webgpu", "cpu"] }, /webgpu/],
      [{ precision: "fp16" }, /fp16/],
    ];
    for (const [change, reason] of cases) {
      for (const [network, choice] of Object.entries(
        chooseConvAlgorithms(undefined, { ...bigCpu, ...change }),
      )) {
        assert.equal(choice.algorithm, "direct", `${network} ${JSON.stringify(change)}`);
        assert.match(choice.reason, reason);
      }
    }
  });

  it("what was asked for stands for every network", () => {
    for (const asked of ["direct", "winograd-f2", "winograd-f4-shallow"] as const) {
      const ctx = { ...bigCpu, totalMemoryBytes: 4 * GIB, vaeQuantization: "int8" };
      for (const choice of Object.values(chooseConvAlgorithms(asked, ctx))) {
        assert.deepEqual(choice, { algorithm: asked, reason: "asked for" });
      }
    }
  });
});

describe("the codecs' graph cache keys", () => {
  const model = loadModel(fixturePath("models/tiny-sd15")) as LoadedWeightsModel;
  const taesd = openTaesd(fixturePath("models/tiny-taesd"));
  after(() => {
    model.close();
    taesd.close();
  });

  /** The cache key of every graph the VAE and TAESD factories request for these settings. */
  async function keys(algorithm: ConvAlgorithm | undefined): Promise<Map<string, string>> {
    const requests: GraphRequest[] = [];
    const graphs: GraphSessions = {
      create: async (request) => {
        requests.push(request);
        return {} as Session;
      },
    };
    const ctx: NetworkContext = {
      target: { runtime: {} as Runtime, session: {} },
      variant: graphVariantFor(undefined, {}),
      graphs,
      int8WeightBits: () => 8,
      modelPath: "tiny-sd15",
    };
    const vae = AUTOENCODER_KL.fromWeights({ component: model.vae, weights: model.vae.weights }, ctx, {
      quantization: "none",
      decoderConvAlgorithm: algorithm,
      encoderConvAlgorithm: algorithm,
    });
    const tiny = TAESD_DECODER.fromWeights({ component: taesd, weights: taesd.weights }, ctx, {
      convAlgorithm: algorithm,
    });
    for (const s of [vae.decoder.session, vae.encoder?.session, tiny.session]) await s?.get();
    return new Map(
      requests.map((r) => [
        r.kind,
        graphCacheKey({
          kind: r.kind,
          weights: r.weightFiles.map((f) => fileIdentity(f)),
          config: r.config,
          options: r.options,
        }),
      ]),
    );
  }

  it("direct keeps the key it had (no conv option), and each Winograd form gets its own", async () => {
    const unset = await keys(undefined);
    assert.deepEqual([...unset.keys()].sort(), ["taesd_decoder", "vae_decoder", "vae_encoder"]);
    assert.deepEqual(await keys("direct"), unset);
    const forms = ["winograd-f2", "winograd-f4", "winograd-f4-light", "winograd-f4-shallow"] as const;
    const seen = new Set(unset.values());
    for (const form of forms) {
      for (const [kind, key] of await keys(form)) {
        assert.ok(!seen.has(key), `${form} ${kind}: a key of its own`);
        seen.add(key);
      }
    }
    assert.equal(seen.size, 3 * (forms.length + 1));
  });
});
