/**
 * The in-tab engine's TAESD parts in Node (no browser): TAESD Blobs read as `--taesd FILE` reads the
 * file (web/src/local/blob-taesd.ts over src/weights/taesd-from-files.ts), and the graph store keying
 * a TAESD graph by the TAESD file, never reading the checkpoint for it (store-graph-sessions.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { GraphRequest } from "../src/engine/graph-sessions.js";
import type { Runtime, Session } from "../src/runtime/runtime.js";
import { writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { openTaesd } from "../src/weights/standalone-vae.js";
import type { BlobSafetensors } from "../web/src/local/blob-safetensors.js";
import { readTaesdBlobs, taesdPath } from "../web/src/local/blob-taesd.js";
import { storeGraphSessions } from "../web/src/local/store-graph-sessions.js";
import { fixturePath } from "./helpers/fixtures.js";

const TAESD = fixturePath("models", "tiny-taesd", "diffusion_pytorch_model.safetensors");

function taesdFile(lastModified = 1000): File {
  return new File([readFileSync(TAESD)], "diffusion_pytorch_model.safetensors", { lastModified });
}

describe("in-tab engine TAESD parts", () => {
  it("readTaesdBlobs: the config and weights openTaesd gives for the same file", async () => {
    const node = openTaesd(TAESD);
    const blobs = await readTaesdBlobs([taesdFile()]);
    try {
      assert.deepEqual(blobs.component.config, node.config);
      assert.deepEqual(blobs.component.weights.names().sort(), node.weights.names().sort());
      for (const name of ["decoder.layers.0.weight", "encoder.layers.0.weight"]) {
        assert.deepEqual(blobs.component.weights.get(name), node.weights.get(name), name);
      }
      assert.deepEqual([...blobs.files.keys()], [taesdPath(taesdFile(), 0)]);
    } finally {
      blobs.component.close();
      node.close();
    }
  });

  it("readTaesdBlobs refuses a checkpoint (not TAESD) and a madebyollin encoder alone (no decoder for previews)", async () => {
    const checkpoint = new File(
      [readFileSync(fixturePath("single_file", "tiny-sd15-fp16.safetensors"))],
      "model.safetensors",
    );
    await assert.rejects(
      readTaesdBlobs([checkpoint]),
      /expected TAESD weights .* found a full SD1\.x checkpoint/,
    );
    // madebyollin's encoder file (keys 0.weight, 1.conv.0.weight, …), from the fixture's encoder half
    const dir = mkdtempSync(join(tmpdir(), "sdlite-taesd-parts-"));
    try {
      const node = openTaesd(TAESD);
      const encoderPath = join(dir, "taesd_encoder.safetensors");
      writeSafetensors(
        encoderPath,
        node.weights
          .names()
          .filter((n) => n.startsWith("encoder.layers."))
          .map((n) => ({
            name: n.slice("encoder.layers.".length),
            dtype: "F32" as const,
            shape: node.weights.shape(n),
            data: node.weights.get(n),
          })),
      );
      node.close();
      const encoder = new File([readFileSync(encoderPath)], "taesd_encoder.safetensors");
      await assert.rejects(readTaesdBlobs([encoder]), /the TAESD files hold no decoder, which previews need/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the graph store keys a TAESD graph by the TAESD file and reads nothing of the checkpoint for it", async () => {
    const loads: string[] = [];
    const file = {
      path: "model.safetensors",
      load: async () => void loads.push("load"),
      unload: () => void loads.push("unload"),
    } as unknown as BlobSafetensors;
    const runtime = { createSession: async () => ({}) as Session } as unknown as Runtime;
    const path = "taesd/taesd_decoder.safetensors";
    /** The key the store is asked for, and what was read of the checkpoint, for one graph request. */
    const attempt = async (
      checkpointModified: number,
      taesdModified: number,
      kind: string,
      weightFiles: string[],
    ) => {
      const asked: string[] = [];
      const store = {
        get: async (key: string) => void asked.push(key.split("/")[0]),
        put: async () => {},
      };
      const checkpoint = new File([new Uint8Array(16)], "model.safetensors", {
        lastModified: checkpointModified,
      });
      const sessions = storeGraphSessions({
        checkpoint,
        file,
        store,
        otherFiles: new Map([[path, taesdFile(taesdModified)]]),
      });
      loads.length = 0;
      const request: GraphRequest = {
        kind,
        weightFiles,
        config: {},
        options: {},
        build: () => {
          throw new Error("not built in this test");
        },
      };
      await assert.rejects(sessions.create(request, runtime, {}), /not built in this test/);
      return { key: asked[0], loads: [...loads] };
    };
    const taesd = await attempt(5, 1000, "taesd_decoder", [path]);
    assert.deepEqual(taesd.loads, [], "the checkpoint is not read for TAESD");
    // keyed by the TAESD file: another checkpoint keeps the key, another TAESD file changes it
    assert.equal((await attempt(6, 1000, "taesd_decoder", [path])).key, taesd.key);
    assert.notEqual((await attempt(5, 2000, "taesd_decoder", [path])).key, taesd.key);
    // the checkpoint's networks are read from it, keyed by it
    const unet = await attempt(5, 1000, "unet", ["model.safetensors"]);
    assert.deepEqual(unet.loads, ["load", "unload"]);
    assert.notEqual((await attempt(6, 1000, "unet", ["model.safetensors"])).key, unet.key);
  });
});
