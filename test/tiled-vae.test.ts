import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import {
  blendHorizontal,
  blendVertical,
  concatSpatial,
  type FloatTensor,
  sliceSpatial,
  type TileTransform,
  tiledApply,
  tiledDecode,
  tiledEncode,
} from "../src/engine/tiled-vae.js";
import {
  buildVaeDecoderGraph,
  buildVaeEncoderGraph,
  VAE_DECODER_INPUT,
  VAE_DECODER_OUTPUT,
  VAE_ENCODER_INPUT,
  VAE_ENCODER_OUTPUTS,
} from "../src/graph/vae.js";
import { decodedToImages } from "../src/image/convert.js";
import { generate } from "../src/pipeline/generate.js";
import { latentDistributionFromMoments } from "../src/pipeline/latent-distribution.js";
import type { Shape4 } from "../src/pipeline/networks.js";
import { createRandomSource } from "../src/rng/index.js";
import type { Session } from "../src/runtime/runtime.js";
import { assertClose, maxDifference } from "./helpers/assert-close.js";
import { fixturePath, golden, manifest } from "./helpers/fixtures.js";
import { codecSessions, vaeConfig, vaeModelDir } from "./helpers/vae-fixtures.js";

/**
 * diffusers 0.27.2 AutoencoderKL.tiled_decode / tiled_encode transliterated: every tile first, then
 * blend_v / blend_h in place on the grid, crop, cat. Python's negative indices and float scalars kept.
 */
async function diffusersTiled(
  x: FloatTensor,
  net: TileTransform,
  tileIn: number,
  tileOut: number,
): Promise<FloatTensor> {
  const overlapSize = Math.trunc(tileIn * (1 - 0.25));
  const blendExtent = Math.trunc(tileOut * 0.25);
  const rowLimit = tileOut - blendExtent;
  const [, , H, W] = x.dims;
  const rows: FloatTensor[][] = [];
  for (let i = 0; i < H; i += overlapSize) {
    const row: FloatTensor[] = [];
    for (let j = 0; j < W; j += overlapSize) {
      const tile = await net(sliceSpatial(x, i, Math.min(i + tileIn, H), j, Math.min(j + tileIn, W)));
      row.push({ data: Float32Array.from(tile.data), dims: tile.dims });
    }
    rows.push(row);
  }
  const f = Math.fround;
  const index = (t: FloatTensor, n: number, c: number, y: number, xx: number) => {
    const [, C, h, w] = t.dims;
    const yy = y < 0 ? h + y : y;
    const xp = xx < 0 ? w + xx : xx;
    return ((n * C + c) * h + yy) * w + xp;
  };
  const blendV = (a: FloatTensor, b: FloatTensor, extent: number) => {
    const e = Math.min(a.dims[2], b.dims[2], extent);
    for (let y = 0; y < e; y++)
      for (let n = 0; n < b.dims[0]; n++)
        for (let c = 0; c < b.dims[1]; c++)
          for (let xx = 0; xx < b.dims[3]; xx++)
            b.data[index(b, n, c, y, xx)] =
              f(a.data[index(a, n, c, -e + y, xx)] * f(1 - y / e)) +
              f(b.data[index(b, n, c, y, xx)] * f(y / e));
  };
  const blendH = (a: FloatTensor, b: FloatTensor, extent: number) => {
    const e = Math.min(a.dims[3], b.dims[3], extent);
    for (let xx = 0; xx < e; xx++)
      for (let n = 0; n < b.dims[0]; n++)
        for (let c = 0; c < b.dims[1]; c++)
          for (let y = 0; y < b.dims[2]; y++)
            b.data[index(b, n, c, y, xx)] =
              f(a.data[index(a, n, c, y, -e + xx)] * f(1 - xx / e)) +
              f(b.data[index(b, n, c, y, xx)] * f(xx / e));
  };
  const resultRows: FloatTensor[] = [];
  rows.forEach((row, i) => {
    const resultRow: FloatTensor[] = [];
    row.forEach((tile, j) => {
      if (i > 0) blendV(rows[i - 1][j], tile, blendExtent);
      if (j > 0) blendH(row[j - 1], tile, blendExtent);
      resultRow.push(
        sliceSpatial(tile, 0, Math.min(rowLimit, tile.dims[2]), 0, Math.min(rowLimit, tile.dims[3])),
      );
    });
    resultRows.push(concatSpatial(resultRow, 3));
  });
  return concatSpatial(resultRows, 2);
}

function correlation(x: Float32Array, y: Float32Array): number {
  const mean = (v: Float32Array) => v.reduce((s, a) => s + a, 0) / v.length;
  const [mx, my] = [mean(x), mean(y)];
  let [sxy, sxx, syy] = [0, 0, 0];
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

function assertIdentical(actual: FloatTensor, expected: FloatTensor, label: string): void {
  assert.deepEqual(actual.dims, expected.dims, `${label}: dims`);
  const d = maxDifference(actual.data, expected.data);
  assert.equal(
    d.maxAbs,
    0,
    `${label}: max |diff| ${d.maxAbs} at ${d.index} (got ${d.actual}, expected ${d.expected})`,
  );
}

describe("tiling arithmetic on a synthetic network", () => {
  // "decodes" by nearest ×2 upsampling and adding 100·(tile number), so every blend is visible
  let tileNumber = 0;
  const net: TileTransform = async (tile) => {
    const [n, c, h, w] = tile.dims;
    const offset = 100 * tileNumber++;
    const data = new Float32Array(n * c * 4 * h * w);
    for (let p = 0; p < n * c; p++)
      for (let y = 0; y < 2 * h; y++)
        for (let x = 0; x < 2 * w; x++)
          data[(p * 2 * h + y) * 2 * w + x] = tile.data[(p * h + (y >> 1)) * w + (x >> 1)] + offset;
    return { data, dims: [n, c, 2 * h, 2 * w] };
  };

  it("a 1x10 strip, tiles of 4 → 8 (stride 3, blend 2, keep 6): hand-computed ramps", async () => {
    tileNumber = 0;
    const input = { data: new Float32Array(10), dims: [1, 1, 1, 10] };
    const out = await tiledApply(input, net, { inputTileSize: 4, outputTileSize: 8 });
    // tiles start at 0, 3, 6, 9 → widths 8, 8, 8, 2 → kept 6, 6, 6, 2 = 20 = 2·10
    assert.deepEqual(out.dims, [1, 1, 2, 20]);
    // tile k is 100k; its first two columns blend with the previous tile's last two: weights 1, 0 then ½, ½
    const row = [0, 0, 0, 0, 0, 0, 0, 50, 100, 100, 100, 100, 100, 150, 200, 200, 200, 200, 200, 250];
    assert.deepEqual([...out.data], [...row, ...row]);
  });

  it("a 2-D grid reproduces the diffusers transliteration bit for bit (batch 2, 3 channels, ragged edges)", async () => {
    const random = createRandomSource("cpu", 7);
    const input = { data: random.randn([2, 3, 11, 14]), dims: [2, 3, 11, 14] };
    tileNumber = 0;
    const ours = await tiledApply(input, net, { inputTileSize: 8, outputTileSize: 16 });
    tileNumber = 0;
    const reference = await diffusersTiled(input, net, 8, 16);
    assertIdentical(ours, reference, "tiled vs diffusers transliteration");
    assert.deepEqual(ours.dims, [2, 3, 22, 28]);
  });

  it("blend_v / blend_h take the overlap from the end of the earlier tile", () => {
    const upper = { data: Float32Array.of(1, 2, 3, 4), dims: [1, 1, 4, 1] };
    const lower = { data: Float32Array.of(10, 20, 30), dims: [1, 1, 3, 1] };
    blendVertical(upper, lower, 2); // rows 0, 1 of lower ← upper rows 2, 3 with weights (1, 0), (½, ½)
    assert.deepEqual([...lower.data], [3, 12, 30]);
    const left = { data: Float32Array.of(1, 2, 3), dims: [1, 1, 1, 3] };
    const right = { data: Float32Array.of(10, 20), dims: [1, 1, 1, 2] };
    blendHorizontal(left, right, 5); // extent limited to the narrower tile: 2
    assert.deepEqual([...right.data], [2, 11.5]);
  });

  it("refuses tile sizes that leave no stride, or whose kept squares would not add up to 2× the input", async () => {
    const input = { data: new Float32Array(100), dims: [1, 1, 10, 10] };
    await assert.rejects(tiledApply(input, net, { inputTileSize: 1, outputTileSize: 2 }), /no stride/);
    // diffusers would give a 26x26 output here: stride trunc(3.75) = 3 but 10 − trunc(2.5) = 8 kept
    await assert.rejects(tiledApply(input, net, { inputTileSize: 5, outputTileSize: 10 }), /keeps 8/);
  });
});

describe("tiled VAE on the tiny SD1.5 VAE", () => {
  const vae = manifest().vae;
  const config = vaeConfig;
  // the tiny VAE's sample_size is 64: tile_latent_min_size 8, as diffusers would use for it
  const tiny = { tileSampleSize: 64, scaleFactor: 8 };
  let decoder: Session;
  let encoder: Session;
  let calls = 0;
  const decodeTile: TileTransform = async (tile) => {
    calls++;
    const out = await decoder.run({ [VAE_DECODER_INPUT]: tile }, [VAE_DECODER_OUTPUT]);
    return out[VAE_DECODER_OUTPUT] as FloatTensor;
  };
  const encodeTile: TileTransform = async (tile) => {
    calls++;
    const out = await encoder.run({ [VAE_ENCODER_INPUT]: tile }, [VAE_ENCODER_OUTPUTS.moments]);
    return out[VAE_ENCODER_OUTPUTS.moments] as FloatTensor;
  };

  before(async () => {
    ({ decoder, encoder } = await codecSessions(vaeModelDir, {
      decoder: (weights) => buildVaeDecoderGraph(weights, config),
      encoder: (weights) => buildVaeEncoderGraph(weights, config),
    }));
  });
  after(async () => {
    await decoder?.release();
    await encoder?.release();
  });

  it("decode: a tile at least as large as the latents is one plain decode (the golden, within 1e-4)", async () => {
    const g = golden("vae");
    const c = vae.cases.find((c: { kind: string }) => c.kind === "decode");
    const dims = [...g.info(c.latents).shape];
    const scale = Math.fround(config.scalingFactor);
    const latents = { data: g.readF32(c.latents).map((v) => v / scale), dims };
    const plain = await decodeTile(latents);
    calls = 0;
    const tiled = await tiledDecode(latents, decodeTile, { tileSampleSize: 8 * Math.max(dims[2], dims[3]) });
    assert.equal(calls, 1);
    assertIdentical(tiled, plain, "tiled (one tile) vs plain decode");
    assertClose(
      tiled.data,
      g.readF32(c.vae_decode),
      vae.tolerance.max_abs,
      `${c.id} vae_decode through tiledDecode`,
    );
  });

  it("decode 16x20 latents in 8x8 tiles: diffusers' blending bit for bit", async () => {
    const dims = [1, 4, 16, 20];
    const latents = { data: createRandomSource("cpu", 1620).randn(dims), dims };
    calls = 0;
    const tiled = await tiledDecode(latents, decodeTile, tiny);
    // starts 0, 6, 12 down and 0, 6, 12, 18 across
    assert.equal(calls, 12);
    assert.deepEqual(tiled.dims, [1, 3, 128, 160]);
    assertIdentical(
      tiled,
      await diffusersTiled(latents, decodeTile, 8, 64),
      "tiled decode vs diffusers transliteration",
    );
  });

  it("decode 24x24 latents in 16x16 tiles: away from the seams the image follows the plain decode", async (t) => {
    const dims = [1, 4, 24, 24];
    const latents = { data: createRandomSource("cpu", 2424).randn(dims), dims };
    const tiled = await tiledDecode(latents, decodeTile, { ...tiny, tileSampleSize: 128 });
    assert.deepEqual(tiled.dims, [1, 3, 192, 192]);
    // Each tile sees only its own latents, and this random VAE's mid-block attention mixes the whole
    // tile, so tiled ≠ plain numerically; still, the first tile's un-blended interior (latents 4..12)
    // must follow the plain decode far more closely than the decode of unrelated latents does.
    const plain = await decodeTile(latents);
    const unrelated = await decodeTile({ data: createRandomSource("cpu", 99).randn(dims), dims });
    const interior = (x: FloatTensor) => sliceSpatial(x, 32, 96, 32, 96).data;
    const [a, b, u] = [interior(tiled), interior(plain), interior(unrelated)];
    const meanAbsDiff = (x: Float32Array, y: Float32Array) =>
      x.reduce((s, v, i) => s + Math.abs(v - y[i]), 0) / x.length;
    const tiledDiff = meanAbsDiff(a, b);
    const unrelatedDiff = meanAbsDiff(u, b);
    const r = correlation(a, b);
    t.diagnostic(
      `interior: mean |tiled − plain| ${tiledDiff.toFixed(3)} (unrelated latents: ${unrelatedDiff.toFixed(3)}), correlation ${r.toFixed(3)}`,
    );
    assert.ok(r > 0.9, `interior: correlation of tiled and plain decode ${r} ≤ 0.9`);
    assert.ok(
      tiledDiff < 0.3 * unrelatedDiff,
      `interior: mean |tiled − plain| ${tiledDiff} is not below 0.3× an unrelated decode's ${unrelatedDiff}`,
    );
  });

  it("encode a 64x96 image in 64-pixel tiles: diffusers' blending of the moments bit for bit, then the clamp", async () => {
    const g = golden("vae");
    const c = vae.cases.find((c: { id: string }) => c.id === "encode_64x96");
    const image = { data: g.readF32(c.image), dims: [...g.info(c.image).shape] };
    calls = 0;
    const moments = await tiledEncode(image, encodeTile, tiny);
    // H 64 ≤ 64 but W 96 > 64 → tiled in both directions: starts 0, 48 each
    assert.equal(calls, 4);
    assert.deepEqual(moments.dims, [1, 8, 8, 12]);
    assertIdentical(
      moments,
      await diffusersTiled(image, encodeTile, 64, 8),
      "tiled encode vs diffusers transliteration",
    );
    const distribution = latentDistributionFromMoments(moments.data, moments.dims);
    assert.deepEqual(distribution.dims, [1, 4, 8, 12]);
    assert.ok(distribution.logvar.every((v) => v >= -30 && v <= 20));

    calls = 0;
    const single = await tiledEncode(image, encodeTile, { tileSampleSize: 96 });
    assert.equal(calls, 1);
    const plain = latentDistributionFromMoments(single.data, single.dims);
    assertClose(
      plain.mean,
      g.readF32(c.mean),
      vae.tolerance.max_abs,
      `${c.id} mean through tiledEncode (one tile)`,
    );
  });

  describe("tiled encode through the pipeline (EngineOptions.tileLatentSize)", () => {
    const pipelines: OpenedPipeline[] = [];
    const open = async (tileLatentSize: number) => {
      // matmul attention: the graphs of the sessions above, so tiles agree bit for bit
      const p = await openPipeline(fixturePath("models/tiny-sd15"), {
        runtime: { cache: false, threads: 1 },
        speed: { attention: "matmul" },
        memory: { tileLatentSize },
      });
      pipelines.push(p);
      return p;
    };
    after(async () => {
      for (const p of pipelines) await p.close();
    });
    const c = () => vae.cases.find((c: { id: string }) => c.id === "encode_64x96");
    const image = () => g().readF32(c().image);
    const g = () => golden("vae");
    const shape: Shape4 = [1, 3, 64, 96];

    it("an image larger than 8 × the tile size encodes as tiledEncode applied directly, bit for bit", async () => {
      const tiled = await (await open(8)).models.vae.encode(image(), shape);
      const moments = await tiledEncode({ data: image(), dims: shape }, encodeTile, tiny);
      const direct = latentDistributionFromMoments(moments.data, moments.dims);
      assert.deepEqual(tiled.dims, [1, 4, 8, 12]);
      assertIdentical(
        { data: tiled.mean, dims: tiled.dims },
        { data: direct.mean, dims: direct.dims },
        "mean",
      );
      assertIdentical({ data: tiled.std, dims: tiled.dims }, { data: direct.std, dims: direct.dims }, "std");
      // and tiling is visible: the untiled encode (tileLatentSize 0) gives other numbers
      const plain = await (await open(0)).models.vae.encode(image(), shape);
      assert.ok(maxDifference(tiled.mean, plain.mean).maxAbs > 1e-3, "tiled and untiled means coincide");
      assertClose(plain.mean, g().readF32(c().mean), vae.tolerance.max_abs, "untiled mean vs golden");
    });

    it("an image within the tile size is encoded whole: the same numbers as never tiling", async () => {
      const whole = await (await open(12)).models.vae.encode(image(), shape);
      const plain = await (await open(0)).models.vae.encode(image(), shape);
      assertIdentical({ data: whole.mean, dims: whole.dims }, { data: plain.mean, dims: plain.dims }, "mean");
      assertIdentical({ data: whole.std, dims: whole.dims }, { data: plain.std, dims: plain.dims }, "std");
    });

    it("img2img encodes its init image tile by tile", async () => {
      const p = await open(8);
      const [initImage] = decodedToImages(image(), shape);
      const request = {
        prompt: "a tiled init image",
        sampler: "Euler",
        guidance: 7,
        steps: 2,
        seed: 5,
        width: 96,
        height: 64,
        initImage,
        strength: 0.5,
      };
      const encoded: Float32Array[] = [];
      const viaPipeline = await generate(
        {
          ...p.models,
          vae: {
            scalingFactor: p.models.vae.scalingFactor,
            decode: (latents, s) => p.models.vae.decode(latents, s),
            encode: async (x, s) => {
              const d = await p.models.vae.encode(x, s);
              encoded.push(d.mean);
              return d;
            },
          },
        },
        request,
      );
      // the same request with the init image encoded by tiledEncode directly
      const direct = await generate(
        {
          ...p.models,
          vae: {
            scalingFactor: p.models.vae.scalingFactor,
            decode: (latents, s) => p.models.vae.decode(latents, s),
            encode: async (x, s) => {
              const m = await tiledEncode({ data: x, dims: s }, encodeTile, tiny);
              return latentDistributionFromMoments(m.data, m.dims);
            },
          },
        },
        request,
      );
      assert.equal(encoded.length, 1);
      assert.deepEqual([...viaPipeline[0].image.data], [...direct[0].image.data]);
    });
  });
});
