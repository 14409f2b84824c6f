/**
 * The op counter on the tiny fixture networks (tiny-sd15's UNet, text encoder and VAE decoder,
 * tiny-taesd's decoder, built from the fixture weights) against the same figures worked out
 * independently from the tensor list: each conv's MACs from its kernel shape and the resolution
 * its module runs at, each linear's from its rows, attention from the token counts, norms and
 * elementwise ops per element as the conventions in op-costs.ts say.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { buildTaesdDecoderGraph } from "../src/graph/taesd.js";
import { buildTextEncoderGraph } from "../src/graph/text-encoder.js";
import { buildUNetGraph } from "../src/graph/unet.js";
import { buildVaeDecoderGraph } from "../src/graph/vae.js";
import { countGraph } from "../src/profile/count-graph.js";
import { attentionHeadsAt } from "../src/weights/architecture/model-config.js";
import { loadModel } from "../src/weights/load-model.js";
import { openTaesd } from "../src/weights/standalone-vae.js";
import type { WeightSource } from "../src/weights/weight-source.js";
import { fixturePath } from "./helpers/fixtures.js";

const model = loadModel(fixturePath("models/tiny-sd15"));
const taesd = openTaesd(fixturePath("models/tiny-taesd"));
after(() => {
  model.close();
  taesd.close();
});
if (model.format === "onnx") throw new Error("tiny-sd15 is a diffusers folder");
const { unet, textEncoder, vae } = model;

const TOKENS = 77;
const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Sums of what each kind should count, filled by the walks below. */
function tally() {
  return {
    convMacs: 0,
    convFlops: 0,
    convWeightBytes: 0,
    linearMacs: 0,
    linearFlops: 0,
    linearWeightBytes: 0,
    attentionMacs: 0,
    attentionFlops: 0,
    normFlops: 0,
    elementwiseFlops: 0,
  };
}

/** A conv module (4-D weight) producing r x r outputs. */
function addConv(t: ReturnType<typeof tally>, w: WeightSource, module: string, r: number) {
  const shape = w.shape(`${module}.weight`);
  const macs = numel(shape) * r * r;
  const bias = w.has(`${module}.bias`);
  t.convMacs += macs;
  t.convFlops += 2 * macs + (bias ? shape[0] * r * r : 0);
  t.convWeightBytes += 4 * (numel(shape) + (bias ? shape[0] : 0));
}

function addLinear(t: ReturnType<typeof tally>, w: WeightSource, module: string, rows: number) {
  const [out, inp] = w.shape(`${module}.weight`);
  const bias = w.has(`${module}.bias`);
  t.linearMacs += rows * out * inp;
  t.linearFlops += 2 * rows * out * inp + (bias ? rows * out : 0);
  t.linearWeightBytes += 4 * (out * inp + (bias ? out : 0));
}

/** Self- or cross-attention of `queries` over `keys` tokens of `channels`, softmax over each row. */
function addAttention(
  t: ReturnType<typeof tally>,
  queries: number,
  keys: number,
  channels: number,
  heads: number,
) {
  const macs = 2 * queries * keys * channels;
  t.attentionMacs += macs;
  t.attentionFlops += 2 * macs + heads * queries * keys * (1 + 5);
}

describe("op counts of the tiny fixture networks, worked out from their tensor lists", () => {
  it("UNet at 16x16 latents: conv, linear, attention, norm, elementwise FLOPs; resample bytes", () => {
    const w = unet.weights;
    const c = unet.config;
    const r0 = 16;
    const levels = c.blockOutChannels.length;
    // the side of the maps a module's outputs have
    const side = (module: string): number => {
      let m = /^down_blocks\.(\d+)\.downsamplers/.exec(module);
      if (m) return r0 / 2 ** (Number(m[1]) + 1);
      m = /^down_blocks\.(\d+)\./.exec(module);
      if (m) return r0 / 2 ** Number(m[1]);
      if (module.startsWith("mid_block.")) return r0 / 2 ** (levels - 1);
      m = /^up_blocks\.(\d+)\.upsamplers/.exec(module);
      if (m) return r0 / 2 ** (levels - 2 - Number(m[1]));
      m = /^up_blocks\.(\d+)\./.exec(module);
      if (m) return r0 / 2 ** (levels - 1 - Number(m[1]));
      return r0; // conv_in, conv_out, conv_norm_out
    };
    const t = tally();
    let resampleRead = 0;
    let resampleWrite = 0;
    const temb = w.shape("time_embedding.linear_1.weight")[0];
    // time embedding: sinusoid (Mul, Sin, Cos over half the base width), then SiLU between the linears
    t.elementwiseFlops += 3 * (c.blockOutChannels[0] / 2) + 2 * temb;
    for (const name of w.names().filter((n) => n.endsWith(".weight"))) {
      const module = name.slice(0, -".weight".length);
      const shape = w.shape(name);
      const r = side(module);
      if (shape.length === 4) {
        addConv(t, w, module, r);
        if (module.includes(".upsamplers.")) {
          resampleRead += 4 * shape[1] * (r / 2) ** 2;
          resampleWrite += 4 * shape[1] * r * r;
        }
      } else if (shape.length === 2) {
        const rows = /time_embedding|time_emb_proj/.test(module)
          ? 1
          : /attn2\.to_[kv]$/.test(module)
            ? TOKENS
            : r * r;
        addLinear(t, w, module, rows);
      } else if (/transformer_blocks\.\d+\.norm\d$/.test(module)) {
        t.normFlops += 7 * shape[0] * r * r; // LayerNorm
      } else if (/(\.norm\d?|conv_norm_out)$/.test(module)) {
        t.normFlops += 9 * shape[0] * r * r; // GroupNorm: InstanceNormalization 7 + affine 2
      }
      // a resnet's elementwise work: SiLU x3 (input, time embedding, after norm2), time add, residual
      const resnet = /^(.*\.resnets\.\d+)\.conv1$/.exec(module);
      if (resnet) {
        const cin = w.shape(`${resnet[1]}.norm1.weight`)[0];
        const cout = shape[0];
        t.elementwiseFlops += 2 * cin * r * r + 2 * temb + cout * r * r + 2 * cout * r * r + cout * r * r;
      }
      // a transformer: self- and cross-attention, GEGLU (6 ops on 4C), 3 residuals + the outer one
      if (module.endsWith(".proj_in")) {
        const channels = shape[0];
        // SD1.5: the same head count at every level
        addAttention(t, r * r, r * r, channels, attentionHeadsAt(c, 0));
        addAttention(t, r * r, TOKENS, channels, attentionHeadsAt(c, 0));
        t.elementwiseFlops += 6 * r * r * 4 * channels + 4 * r * r * channels;
      }
    }
    t.elementwiseFlops += 2 * c.blockOutChannels[0] * r0 * r0; // SiLU before conv_out

    const graph = buildUNetGraph(w, c, { attention: "mha" });
    const count = countGraph(graph, {
      sample: [1, c.inChannels, r0, r0],
      timestep: [1],
      encoder_hidden_states: [1, TOKENS, c.crossAttentionDim],
    });
    const k = count.byKind;
    assert.deepEqual(
      [k.conv.macs, k.conv.flops, k.conv.weightBytes],
      [t.convMacs, t.convFlops, t.convWeightBytes],
      "conv",
    );
    assert.deepEqual(
      [k.matmul.macs, k.matmul.flops, k.matmul.weightBytes],
      [t.linearMacs, t.linearFlops, t.linearWeightBytes],
      "linear",
    );
    assert.deepEqual([k.attention.macs, k.attention.flops], [t.attentionMacs, t.attentionFlops], "attention");
    assert.equal(k.norm.flops, t.normFlops, "norm");
    assert.equal(k.elementwise.flops, t.elementwiseFlops, "elementwise");
    assert.deepEqual(
      [k.resample.readBytes, k.resample.writeBytes, k.resample.flops],
      [resampleRead, resampleWrite, 0],
    );
    assert.equal(k.layout.flops, 0);
    assert.equal(
      count.parameters,
      w.names().reduce((n, name) => n + numel(w.shape(name)), 0),
      "parameters",
    );
  });

  it("UNet with ToDo (factor 2): the full-resolution self-attentions and their k/v linears on a quarter of the tokens", () => {
    const w = unet.weights;
    const c = unet.config;
    const r0 = 16;
    const inputs = {
      sample: [1, c.inChannels, r0, r0],
      timestep: [1],
      encoder_hidden_states: [1, TOKENS, c.crossAttentionDim],
    };
    const plain = countGraph(buildUNetGraph(w, c, { attention: "mha" }), inputs).byKind;
    const todo = countGraph(buildUNetGraph(w, c, { attention: "mha", todoFactor: 2 }), inputs).byKind;
    // depth 1: the transformers of down_blocks.0 and of the last up block, at r0 x r0
    const last = c.blockOutChannels.length - 1;
    const fullRes = w
      .names()
      .filter((n) => n.endsWith(".proj_in.weight"))
      .filter((n) => n.startsWith("down_blocks.0.") || n.startsWith(`up_blocks.${last}.`));
    assert.ok(fullRes.length > 0);
    const channels = c.blockOutChannels[0];
    const queries = r0 * r0;
    const keysLost = r0 * r0 - (r0 / 2) * (r0 / 2);
    const n = fullRes.length;
    assert.equal(
      plain.attention.macs - todo.attention.macs,
      n * 2 * queries * keysLost * channels,
      "attention",
    );
    assert.equal(plain.matmul.macs - todo.matmul.macs, n * 2 * keysLost * channels * channels, "to_k, to_v");
    assert.ok(todo.resample.readBytes > plain.resample.readBytes, "the downsampling is a Resize");
  });

  it("text encoder (77 tokens, fused attention with the causal mask): linear, attention, norm, elementwise", () => {
    const w = textEncoder.weights;
    const c = textEncoder.config;
    const t = tally();
    for (const name of w.names().filter((n) => /(proj|fc\d)\.weight$/.test(n))) {
      addLinear(t, w, name.slice(0, -".weight".length), TOKENS);
    }
    for (let i = 0; i < c.numHiddenLayers; i++) {
      addAttention(t, TOKENS, TOKENS, c.hiddenSize, c.numAttentionHeads);
      t.attentionFlops += c.numAttentionHeads * TOKENS * TOKENS; // the causal mask add
      // quick_gelu (3 ops) on the MLP's hidden width, two residual adds
      t.elementwiseFlops += 3 * TOKENS * c.intermediateSize + 2 * TOKENS * c.hiddenSize;
    }
    t.elementwiseFlops += TOKENS * c.hiddenSize; // token + position embeddings
    t.normFlops = 7 * TOKENS * c.hiddenSize * (2 * c.numHiddenLayers + 1);

    const count = countGraph(buildTextEncoderGraph(w, c, { attention: "mha" }), { input_ids: [1, TOKENS] });
    const k = count.byKind;
    assert.deepEqual(
      [k.matmul.macs, k.matmul.flops, k.matmul.weightBytes],
      [t.linearMacs, t.linearFlops, t.linearWeightBytes],
    );
    assert.deepEqual([k.attention.macs, k.attention.flops], [t.attentionMacs, t.attentionFlops]);
    // the mask's 77x77 floats are read by each layer's attention
    assert.equal(k.attention.weightBytes, c.numHiddenLayers * TOKENS * TOKENS * 4);
    assert.equal(k.norm.flops, t.normFlops);
    assert.equal(k.elementwise.flops, t.elementwiseFlops);
    // the token embedding is read only where gathered: 77 rows
    assert.equal(k.layout.weightBytes, TOKENS * c.hiddenSize * 4);
    assert.equal(k.conv.nodes + k.resample.nodes, 0);
  });

  it("VAE decoder at 16x16 latents: conv, the mid block's single-head attention, norms", () => {
    const w = vae.weights;
    const levels = vae.config.blockOutChannels.length;
    const r0 = 16;
    const side = (module: string): number => {
      let m = /^decoder\.up_blocks\.(\d+)\.upsamplers/.exec(module);
      if (m) return r0 * 2 ** (Number(m[1]) + 1);
      m = /^decoder\.up_blocks\.(\d+)\./.exec(module);
      if (m) return r0 * 2 ** Number(m[1]);
      if (/^decoder\.conv_(out|norm_out)/.test(module)) return r0 * 2 ** (levels - 1);
      return r0; // post_quant_conv, conv_in, mid block
    };
    const t = tally();
    const names = w.names().filter((n) => /^(decoder\.|post_quant_conv)/.test(n) && n.endsWith(".weight"));
    for (const name of names) {
      const module = name.slice(0, -".weight".length);
      const shape = w.shape(name);
      const r = side(module);
      if (shape.length === 4) addConv(t, w, module, r);
      else if (shape.length === 2) addLinear(t, w, module, r * r);
      else t.normFlops += 9 * shape[0] * r * r; // every VAE norm is a GroupNorm
    }
    const deepest = vae.config.blockOutChannels[levels - 1];
    addAttention(t, r0 * r0, r0 * r0, deepest, 1);

    const count = countGraph(buildVaeDecoderGraph(w, vae.config, { attention: "mha" }), {
      latent_sample: [1, vae.config.latentChannels, r0, r0],
    });
    const k = count.byKind;
    assert.deepEqual(
      [k.conv.macs, k.conv.flops, k.conv.weightBytes],
      [t.convMacs, t.convFlops, t.convWeightBytes],
    );
    assert.deepEqual([k.matmul.macs, k.matmul.flops], [t.linearMacs, t.linearFlops]);
    assert.deepEqual([k.attention.macs, k.attention.flops], [t.attentionMacs, t.attentionFlops]);
    assert.equal(k.norm.flops, t.normFlops);
    // the output image leaves the network: 3 x 128 x 128 floats are live at the end
    assert.ok(count.peakActivationBytes >= 3 * 128 * 128 * 4);
  });

  it("TAESD decoder at 16x16 latents: its convs at the resolution of each level", () => {
    const w = taesd.weights;
    const cfg = taesd.config;
    const t = tally();
    // the builder's walk: layers.0 conv, per level its blocks, an upsample (not last), a conv
    let r = 16;
    addConv(t, w, "decoder.layers.0", r);
    let layer = 2;
    cfg.numDecoderBlocks.forEach((blocks, level) => {
      for (let k = 0; k < blocks; k++, layer++) {
        for (const conv of ["conv.0", "conv.2", "conv.4", "skip"]) {
          if (w.has(`decoder.layers.${layer}.${conv}.weight`))
            addConv(t, w, `decoder.layers.${layer}.${conv}`, r);
        }
      }
      if (level < cfg.numDecoderBlocks.length - 1) {
        r *= 2;
        layer++;
      }
      addConv(t, w, `decoder.layers.${layer++}`, r);
    });
    // the output rescale x·2 − 1 follows the last conv with constant operands: its epilogue (op-kinds.ts)
    t.convFlops += 2 * 3 * r * r;
    t.convWeightBytes += 2 * 4;
    const count = countGraph(buildTaesdDecoderGraph(w, cfg), {
      latent_sample: [1, cfg.latentChannels, 16, 16],
    });
    assert.deepEqual(
      [count.byKind.conv.macs, count.byKind.conv.flops, count.byKind.conv.weightBytes],
      [t.convMacs, t.convFlops, t.convWeightBytes],
    );
    assert.equal(count.byKind.matmul.nodes + count.byKind.attention.nodes + count.byKind.norm.nodes, 0);
  });
});
