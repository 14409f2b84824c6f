/**
 * PSNR, max and mean difference (8-bit levels) of PNG images against a reference PNG, as `sdlite bench
 * --compare-quality` computes them (bench/image-difference.ts), for images the bench wrote in separate runs.
 *
 *   npx tsx scripts/image-psnr.ts REFERENCE.png IMAGE.png [IMAGE.png …] [--json FILE]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { compareImages } from "../src/bench/image-difference.js";
import { decodePngRgb } from "../src/image/png.js";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { json: { type: "string" } } });
if (positionals.length < 2) throw new Error("usage: image-psnr.ts REFERENCE.png IMAGE.png [IMAGE.png …]");
const read = (path: string) => decodePngRgb(new Uint8Array(readFileSync(path))).image;
const [referencePath, ...imagePaths] = positionals;
const reference = read(referencePath);
const rows = imagePaths.map((path) => ({ image: basename(path), ...compareImages(read(path), reference) }));
console.log(`against ${basename(referencePath)}:`);
for (const r of rows)
  console.log(
    `  ${r.image}: PSNR ${r.psnrDb.toFixed(2)} dB, max ${r.maxAbs} levels, mean ${r.meanAbs.toFixed(3)}`,
  );
if (values.json)
  writeFileSync(values.json, `${JSON.stringify({ reference: basename(referencePath), rows }, null, 2)}\n`);
