/** A serialised model streamed to a folder (Node): onnx-model.ts lays it out, this file writes it. */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { GraphBuilder } from "./graph-builder.js";
import { initializerBytes } from "./graph-builder.js";
import { encodeWithLayout, planLayout, type SerializeOptions } from "./onnx-model.js";

/**
 * Streams the model into `dir` as `modelFile` + external chunks, one weight in memory at a time.
 * Files are written under temporary names and renamed, the model file last, so an interrupted
 * write never leaves a model file whose weights are incomplete. Use a fresh folder (GraphCache
 * does): overwriting another model's files in place is not atomic as a whole.
 */
export function writeModel(
  builder: GraphBuilder,
  dir: string,
  options: SerializeOptions & { modelFile?: string } = {},
): { modelPath: string; files: string[] } {
  mkdirSync(dir, { recursive: true });
  const layout = planLayout(builder, options);
  const tmpSuffix = `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const written: string[] = [];
  try {
    for (let c = 0; c < layout.chunkSizes.length; c++) {
      const tmp = join(dir, layout.chunkNames[c] + tmpSuffix);
      written.push(tmp);
      const fd = openSync(tmp, "w");
      try {
        let cursor = 0;
        for (const p of layout.placed) {
          if (p.chunk !== c) continue;
          if (p.offset > cursor) writeAll(fd, new Uint8Array(p.offset - cursor));
          writeAll(fd, initializerBytes(p.spec));
          cursor = p.offset + p.length;
        }
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    const modelFile = options.modelFile ?? "model.onnx";
    const tmpModel = join(dir, modelFile + tmpSuffix);
    written.push(tmpModel);
    const fd = openSync(tmpModel, "w");
    try {
      writeAll(fd, encodeWithLayout(builder, layout, options));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    for (let c = 0; c < layout.chunkNames.length; c++)
      renameSync(written[c], join(dir, layout.chunkNames[c]));
    renameSync(tmpModel, join(dir, modelFile));
    return { modelPath: join(dir, modelFile), files: [modelFile, ...layout.chunkNames] };
  } catch (err) {
    for (const f of written) rmSync(f, { force: true });
    throw err;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) {
    done += writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, 1 << 30));
  }
}
