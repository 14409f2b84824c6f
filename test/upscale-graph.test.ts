/**
 * The ESRGAN-family ONNX graphs against an independent naive forward pass (test/helpers/
 * esrgan-reference.ts) on tiny random weights in every key layout and file format; pixel
 * shuffle/unshuffle ops on their own; tiled against untiled output.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createGraphSession } from "../src/engine/graph-session.js";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { receptiveRadius } from "../src/upscale/esrgan-architecture.js";
import { ModelUpscaler } from "../src/upscale/model-upscaler.js";
import { pixelShuffle, pixelUnshuffle } from "../src/upscale/pixel-shuffle-ops.js";
import { bytesToPlanes, unitToByte } from "../src/upscale/rgb-planes.js";
import { upscalePlanes } from "../src/upscale/tiled-upscale.js";
import { assertClose, maxDifference } from "./helpers/assert-close.js";
import * as ref from "./helpers/esrgan-reference.js";
import {
  type TinyRrdb,
  tinyCompactWeights,
  tinyRrdbWeights,
  toOldEsrganLayout,
  writeTinyPth,
  writeTinySafetensors,
} from "./helpers/tiny-upscalers.js";

const runtime = onnxruntimeNode();
const dir = mkdtempSync(join(tmpdir(), "sdlite-upscale-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function randomPlanes(c: number, h: number, w: number, seed: number): ref.Planes {
  let s = seed;
  const data = new Float32Array(c * h * w).map(() => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  });
  return { c, h, w, data };
}

async function runOp(build: (b: GraphBuilder, x: string) => string, x: ref.Planes): Promise<Float32Array> {
  const session = await createGraphSession(runtime, () => {
    const b = new GraphBuilder("op");
    const input = b.input("x", "float32", [1, x.c, "h", "w"]);
    b.output(build(b, input), "y", "float32");
    return b;
  });
  try {
    const out = await session.run({ x: { dims: [1, x.c, x.h, x.w], data: x.data } });
    return out.y.data as Float32Array;
  } finally {
    await session.release();
  }
}

async function untiled(upscaler: ModelUpscaler, x: ref.Planes): Promise<Float32Array> {
  return upscaler.network(x.data, x.h, x.w);
}

const X4: TinyRrdb = { blocks: 2, features: 8, growth: 4, upsamples: 2, unshuffle: 1 };
const X2: TinyRrdb = { blocks: 1, features: 8, growth: 4, upsamples: 2, unshuffle: 2 };

describe("pixel shuffle ops", () => {
  it("DepthToSpace CRD is torch.pixel_shuffle; DCR is not", async () => {
    const x = randomPlanes(12, 3, 5, 7);
    const expected = ref.pixelShuffle(x, 2).data;
    assertClose(await runOp((b, i) => pixelShuffle(b, i, 2), x), expected, 0, "CRD");
    const dcr = await runOp((b, i) => b.node("DepthToSpace", [i], { blocksize: 2, mode: "DCR" }), x);
    assert.ok(maxDifference(dcr, expected).maxAbs > 0.1, "DCR would have matched too: the check is blind");
  });

  it("Reshape/Transpose pixel_unshuffle is BasicSR's; SpaceToDepth is not", async () => {
    const x = randomPlanes(3, 6, 4, 9);
    const expected = ref.pixelUnshuffle(x, 2).data;
    assertClose(await runOp((b, i) => pixelUnshuffle(b, i, 3, 2), x), expected, 0, "unshuffle");
    const s2d = await runOp((b, i) => b.node("SpaceToDepth", [i], { blocksize: 2 }), x);
    assert.ok(maxDifference(s2d, expected).maxAbs > 0.1, "SpaceToDepth would have matched too");
  });
});

describe("ESRGAN-family graphs = naive reference", () => {
  const cases: {
    label: string;
    write: (path: string) => void;
    file: string;
    expected: (x: ref.Planes) => ref.Planes;
    arch: Record<string, unknown>;
    input: [number, number];
  }[] = [
    {
      label: "RRDBNet x4, BasicSR names, .pth with params_ema",
      file: "x4plus.pth",
      write: (p) => writeTinyPth(p, tinyRrdbWeights(X4)),
      expected: (x) => ref.rrdbNetReference(x, tinyRrdbWeights(X4), 2, 2, 1),
      arch: { kind: "rrdb", scale: 4, blocks: 2, features: 8, growth: 4, upsamples: 2, unshuffle: 1 },
      input: [7, 10],
    },
    {
      label: "RRDBNet x2 (pixel-unshuffled input, in_ch 12), .safetensors",
      file: "x2plus.safetensors",
      write: (p) => writeTinySafetensors(p, tinyRrdbWeights(X2, 3)),
      expected: (x) => ref.rrdbNetReference(x, tinyRrdbWeights(X2, 3), 1, 2, 2),
      arch: { kind: "rrdb", scale: 2, blocks: 1, unshuffle: 2 },
      input: [6, 8],
    },
    {
      label: "old ESRGAN layout (model.N), .pth with state_dict",
      file: "old-esrgan.pth",
      write: (p) => writeTinyPth(p, toOldEsrganLayout(tinyRrdbWeights(X4, 4), X4), "state_dict"),
      expected: (x) => ref.rrdbNetReference(x, tinyRrdbWeights(X4, 4), 2, 2, 1),
      arch: { kind: "rrdb", scale: 4, blocks: 2, upsamples: 2 },
      input: [5, 6],
    },
    {
      label: "old ESRGAN layout x2 (one upsample stage), .safetensors",
      file: "old-esrgan-x2.safetensors",
      write: (p) => {
        const a = { ...X4, blocks: 1, upsamples: 1 };
        writeTinySafetensors(p, toOldEsrganLayout(tinyRrdbWeights(a, 5), a));
      },
      expected: (x) =>
        ref.rrdbNetReference(x, tinyRrdbWeights({ ...X4, blocks: 1, upsamples: 1 }, 5), 1, 1, 1),
      arch: { kind: "rrdb", scale: 2, blocks: 1, upsamples: 1 },
      input: [5, 7],
    },
    {
      label: "SRVGGNetCompact x4 (PReLU), .pth with params",
      file: "general-x4v3.pth",
      write: (p) => writeTinyPth(p, tinyCompactWeights(8, 3, 4), "params"),
      expected: (x) => ref.compactReference(x, tinyCompactWeights(8, 3, 4), 3, 4),
      arch: { kind: "compact", scale: 4, features: 8, convs: 3 },
      input: [6, 5],
    },
  ];
  for (const c of cases) {
    it(c.label, async () => {
      const path = join(dir, c.file);
      c.write(path);
      const upscaler = ModelUpscaler.open(path, { runtime, cache: false });
      try {
        for (const [k, v] of Object.entries(c.arch)) {
          assert.equal((upscaler.architecture as unknown as Record<string, unknown>)[k], v, k);
        }
        const x = randomPlanes(3, c.input[0], c.input[1], 11);
        const expected = c.expected(x);
        const actual = await untiled(upscaler, x);
        const s = upscaler.scale;
        assert.deepEqual([expected.h, expected.w], [x.h * s, x.w * s]);
        // the reference output is not trivially small: the tolerance means something
        assert.ok(Math.max(...expected.data.map(Math.abs)) > 0.1);
        assertClose(actual, expected.data, 1e-4, c.label);
      } finally {
        await upscaler.close();
      }
    });
  }
});

describe("tiled upscaling", () => {
  it("a pad covering the receptive field gives the untiled output; a small pad differs near seams", async () => {
    const path = join(dir, "tile-x4.safetensors");
    const a = { ...X4, blocks: 1 };
    writeTinySafetensors(path, tinyRrdbWeights(a, 6));
    const upscaler = ModelUpscaler.open(path, { runtime, cache: false });
    try {
      const radius = receptiveRadius(upscaler.architecture);
      assert.equal(radius, 19);
      const x = randomPlanes(3, 45, 58, 13);
      const whole = await untiled(upscaler, x);
      const ticks: number[] = [];
      const tiled = await upscalePlanes(x.data, 3, x.w, x.h, 4, upscaler.network, {
        tile: 16,
        pad: radius,
        onTile: (done, total) => ticks.push(done / total),
      });
      assert.equal(ticks.length, 4 * 3);
      assert.equal(ticks.at(-1), 1);
      assertClose(tiled, whole, 1e-5, "tiled, pad = receptive radius");
      const thin = await upscalePlanes(x.data, 3, x.w, x.h, 4, upscaler.network, { tile: 16, pad: 2 });
      assert.ok(
        maxDifference(thin, whole).maxAbs > 1e-3,
        "a 2 px pad should not reproduce the untiled output",
      );
    } finally {
      await upscaler.close();
    }
  });

  it("an aborted signal stops before the next tile", async () => {
    const path = join(dir, "abort-x4.safetensors");
    writeTinySafetensors(path, tinyRrdbWeights({ ...X4, blocks: 1 }, 8));
    const upscaler = ModelUpscaler.open(path, { runtime, cache: false, tile: 8, tilePad: 2 });
    try {
      const controller = new AbortController();
      const image = { width: 32, height: 16, data: new Uint8Array(32 * 16 * 3).fill(120) };
      const seen: number[] = [];
      await assert.rejects(
        upscaler.pass(image, {
          scale: 4,
          signal: controller.signal,
          onTile: (done) => {
            seen.push(done);
            if (done === 2) controller.abort();
          },
        }),
        { name: "AbortError" },
      );
      assert.deepEqual(seen, [1, 2]);
    } finally {
      await upscaler.close();
    }
  });

  it("x2 (pixel-unshuffle) tiles stay on the unshuffle grid; odd image sizes are reflect-padded and cropped", async () => {
    const path = join(dir, "tile-x2.safetensors");
    writeTinySafetensors(path, tinyRrdbWeights(X2, 7));
    const upscaler = ModelUpscaler.open(path, { runtime, cache: false, tile: 9, tilePad: 40 });
    try {
      const radius = receptiveRadius(upscaler.architecture);
      assert.ok(radius <= 40, `radius ${radius}`);
      // 13x11 RGB bytes
      const width = 13;
      const height = 11;
      const data = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 37 + 11) % 256);
      const out = await upscaler.pass({ width, height, data }, { scale: 2 });
      assert.deepEqual([out.width, out.height], [26, 22]);
      // expected: the untiled network on the reflect-padded 14x12 image, cropped, to bytes
      const padded = bytesToPlanes(data, width, height, 3, 14, 12);
      const whole = await upscaler.network(padded, 12, 14);
      let worst = 0;
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < 22; y++)
          for (let x = 0; x < 26; x++) {
            const expected = unitToByte(whole[(c * 24 + y) * 28 + x]);
            worst = Math.max(worst, Math.abs(out.data[(y * 26 + x) * 3 + c] - expected));
          }
      // float summation order differs by tile shape: a value at a rounding boundary may move by 1
      assert.ok(worst <= 1, `max byte difference ${worst}`);
    } finally {
      await upscaler.close();
    }
  });
});
