/**
 * Full-size SD1.5 counted from its graph structure alone (synthetic weights that are never
 * materialised: counting reads shapes), against published figures, and what each engine option
 * changes in FLOPs and bytes. Published: the SD1.5 UNet has 859,520,964 parameters (diffusers'
 * UNet2DConditionModel for the v1 config) and costs about 0.4 TMAC per 512x512 evaluation
 * (ECOSYSTEM.md 3.3: 402 GMAC derived, onnx-tool 444 GMAC per latent including elementwise);
 * the VAE decoder about 1.26-1.27 TMAC at 512x512 (onnx-tool 1.272); TAESD's decoder about 71
 * GMAC; the CLIP text encoder about 6.8 GMAC (onnx-tool) with 123.06 M parameters.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { countGraph, type NetworkCount } from "../src/profile/count-graph.js";
import {
  type ProfileArchitecture,
  type ProfileComponent,
  type ProfileSettings,
  planNetworks,
} from "../src/profile/profile-plan.js";
import {
  SD15_TAESD,
  SD15_TEXT_ENCODER,
  SD15_UNET,
  SD15_VAE,
} from "../src/weights/architecture/model-config.js";
import { textEncoderTensorMap, unetTensorMap, vaeTensorMap } from "../src/weights/key-maps/ldm-key-map.js";
import { taesdTensorNames } from "../src/weights/key-maps/taesd-key-map.js";
import type { TensorMapping } from "../src/weights/key-maps/tensor-mapping.js";
import { syntheticWeightSource } from "../src/weights/synthetic-weight-source.js";
import { profileSettings } from "./helpers/profile-settings.js";

/** A component whose weights are shapes only: reading a value fails the test. */
function shapesOnly<C>(config: C, mappings: TensorMapping[]): ProfileComponent<C> {
  const source = syntheticWeightSource(mappings);
  const weights = {
    ...source,
    get: (name: string): Float32Array => {
      throw new Error(`counting read the values of ${name}`);
    },
  };
  return { config, weights, weightStorage: "fp16" };
}

const SD15: ProfileArchitecture = {
  unet: shapesOnly(SD15_UNET, unetTensorMap(SD15_UNET)),
  textEncoder: shapesOnly(SD15_TEXT_ENCODER, textEncoderTensorMap(SD15_TEXT_ENCODER)),
  vae: shapesOnly(SD15_VAE, vaeTensorMap(SD15_VAE)),
  taesd: shapesOnly(SD15_TAESD, taesdTensorNames(SD15_TAESD)),
};

function counted(settings: Partial<ProfileSettings> = {}): Map<string, NetworkCount> {
  const plans = planNetworks(SD15, profileSettings(settings));
  return new Map(plans.map((p) => [p.id, countGraph(p.build(), p.inputs)]));
}

const G = 1e9;
const within = (value: number, lo: number, hi: number, what: string) =>
  assert.ok(value >= lo && value <= hi, `${what}: ${value / G} G is outside [${lo / G}, ${hi / G}] G`);

describe("full-size SD1.5 counted from its graph structure", () => {
  const base = counted();
  const unet = base.get("unet") as NetworkCount;

  it("UNet: 859,520,964 parameters and about 0.4 TMAC per 512x512 evaluation", () => {
    assert.equal(unet.parameters, 859_520_964);
    // fp16 storage: two bytes per parameter on disk
    assert.equal(unet.parameterBytes, 2 * 859_520_964);
    within(unet.total.macs, 395e9, 410e9, "UNet MACs");
    // the attention products alone: 5 self-attentions at 64x64 of 4096² x 320 x 2 ≈ 53.7 GMAC, and the rest
    within(unet.byKind.attention.macs, 60e9, 66e9, "UNet attention MACs");
    assert.ok(unet.total.flops >= 2 * unet.total.macs);
  });

  it("text encoder, VAE decoder and TAESD decoder match their published sizes", () => {
    const te = base.get("text_encoder") as NetworkCount;
    within(te.total.macs, 6.4e9, 7.0e9, "text encoder MACs");
    within(te.parameters, 123.0e6, 123.1e6, "text encoder parameters");
    within((base.get("vae_decoder") as NetworkCount).total.macs, 1240e9, 1280e9, "VAE decoder MACs");
    const taesd = counted({ decoder: "taesd" }).get("taesd_decoder") as NetworkCount;
    within(taesd.total.macs, 68e9, 74e9, "TAESD decoder MACs");
  });

  it("attention kinds: the same FLOPs, but the matmul form writes the 537 MB score tensors", () => {
    const matmul = counted({ attention: "matmul" }).get("unet") as NetworkCount;
    assert.equal(matmul.total.macs, unet.total.macs);
    assert.equal(matmul.total.flops, unet.total.flops);
    // 8 heads x 4096 x 4096 floats: a softmax reads one and writes another, both live at once
    const scores = 8 * 4096 * 4096 * 4;
    assert.ok(matmul.peakActivationBytes >= 2 * scores, `matmul peak ${matmul.peakActivationBytes}`);
    assert.ok(unet.peakActivationBytes < scores, `mha peak ${unet.peakActivationBytes}`);
    assert.ok(matmul.byKind.attention.writeBytes > 10 * scores);
    assert.ok(unet.byKind.attention.writeBytes < scores);
  });

  it("int8: the same MACs, about a quarter of the conv and linear weight bytes", () => {
    const int8 = counted({ unetQuantization: "int8" }).get("unet") as NetworkCount;
    assert.equal(int8.total.macs, unet.total.macs);
    const weights = (c: NetworkCount) => c.byKind.conv.weightBytes + c.byKind.matmul.weightBytes;
    const ratio = weights(int8) / weights(unet);
    assert.ok(ratio > 0.25 && ratio < 0.3, `int8/float32 weight bytes ${ratio}`);
    // the price: im2col copies of the quantized activations, one gathered 9x copy per 3x3 conv (the
    // engine's gather-im2col; Slices then a Concat wrote it twice, more than 2x the float graph's)
    const layout = int8.byKind.layout.writeBytes / unet.byKind.layout.writeBytes;
    assert.ok(layout > 1.25 && layout < 1.5, `int8/float32 layout bytes written ${layout}`);
  });

  it("int8 text encoder (--fast): the same MACs, about a quarter of the linear weight bytes", () => {
    const float = base.get("text_encoder") as NetworkCount;
    const withInt8 = counted({ textEncoderQuantization: "int8" });
    const int8 = withInt8.get("text_encoder") as NetworkCount;
    assert.equal(int8.total.macs, float.total.macs);
    const ratio = int8.byKind.matmul.weightBytes / float.byKind.matmul.weightBytes;
    assert.ok(ratio > 0.25 && ratio < 0.3, `int8/float32 linear weight bytes ${ratio}`);
    // the UNet is built as before: the option is the text encoder's alone
    assert.equal(withInt8.get("unet")?.total.macs, unet.total.macs);
  });

  it("Winograd (the exact default with 16 GiB of RAM): fewer multiply-adds, larger float32 weights", () => {
    const wino = counted({ convAlgorithm: "winograd-f4-shallow" }).get("unet") as NetworkCount;
    // F(4,3) does a quarter of the direct 3x3 MACs on the 320/640-channel convs, F(2,3) 1/2.25 at 16x16
    const share = wino.total.macs / unet.total.macs;
    assert.ok(share > 0.65 && share < 0.78, `Winograd/direct MACs ${share}`);
    // U = (G⊗G)·g: 36/9 (F4) or 16/9 (F2) of the kernel's values, float32: +1.25 GB (conv-algorithm.ts)
    const weights = (c: NetworkCount) => c.byKind.conv.weightBytes + c.byKind.matmul.weightBytes;
    const extra = weights(wino) - weights(unet);
    assert.ok(extra > 1.1e9 && extra < 1.4e9, `Winograd adds ${extra} bytes of weights`);
  });

  it("DeepCache: the shallow branch is about a third of the UNet; calls alternate as the pipeline runs them", () => {
    const plans = planNetworks(SD15, profileSettings({ steps: 4, deepCacheInterval: 3 }));
    const calls = Object.fromEntries(plans.map((p) => [p.id, p.callsPerImage]));
    assert.deepEqual(calls, { text_encoder: 1, unet: 2, unet_shallow: 2, vae_decoder: 1 });
    const shallow = countGraph(plans[2].build(), plans[2].inputs);
    const full = countGraph(plans[1].build(), plans[1].inputs);
    const share = shallow.total.macs / full.total.macs;
    assert.ok(share > 0.25 && share < 0.45, `shallow/full MACs ${share}`);
  });

  it("CFG runs the UNet at batch 2 and the text encoder twice; tiling decodes 1024x1024 in 9 tiles", () => {
    const plans = planNetworks(SD15, profileSettings({ guidance: 7.5, width: 1024, height: 1024 }));
    const byId = new Map(plans.map((p) => [p.id, p]));
    assert.deepEqual(byId.get("unet")?.inputs.sample, [2, 4, 128, 128]);
    assert.equal(byId.get("text_encoder")?.callsPerImage, 2);
    // tiles start every 48 latents: 0, 48, 96 → sides 64, 64, 32 on each axis
    const tiles = plans.filter((p) => p.stage === "decoder").map((p) => [p.id, p.callsPerImage]);
    assert.deepEqual(tiles, [
      ["vae_decoder 64x64", 4],
      ["vae_decoder 64x32", 2],
      ["vae_decoder 32x64", 2],
      ["vae_decoder 32x32", 1],
    ]);
    const untiled = planNetworks(SD15, profileSettings({ width: 1024, height: 1024, tileLatentSize: 0 }));
    assert.deepEqual(
      untiled.filter((p) => p.stage === "decoder").map((p) => [p.id, p.callsPerImage]),
      [["vae_decoder", 1]],
    );
  });
});
