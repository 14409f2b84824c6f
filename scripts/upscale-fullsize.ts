/**
 * Full-size upscaler measurement: writes a random RealESRGAN_x4plus-shaped RRDBNet (23 blocks, 64
 * features, grow 32; Kaiming-uniform weights) as safetensors and a 512x512 PNG under .bench/, then
 * prints the `sdlite upscale` command to time. Run under `flock /tmp/fullsize.lock` (see
 * docs/benchmarks.md, "Upscaling"):
 *   node --import tsx scripts/upscale-fullsize.ts
 *   flock /tmp/fullsize.lock /usr/bin/time -v node dist/src/cli/main.js upscale .bench/upscale-in.png \
 *     -u .bench/realesrgan-x4plus-random.safetensors -o .bench/upscale-out.png --json
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodePng } from "../src/image/png.js";
import { type TensorToWrite, writeSafetensors } from "../src/weights/formats/safetensors-writer.js";

const dir = join(process.cwd(), ".bench");
mkdirSync(dir, { recursive: true });

let state = 12345;
function uniform(n: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

const tensors: TensorToWrite[] = [];
function conv(key: string, out: number, inC: number): void {
  const scale = Math.sqrt(3 / (inC * 9)) * 0.5;
  tensors.push({
    name: `${key}.weight`,
    dtype: "F32",
    shape: [out, inC, 3, 3],
    data: uniform(out * inC * 9, scale),
  });
  tensors.push({ name: `${key}.bias`, dtype: "F32", shape: [out], data: uniform(out, 0.01) });
}
const features = 64;
const growth = 32;
conv("conv_first", features, 3);
for (let b = 0; b < 23; b++) {
  for (const d of ["rdb1", "rdb2", "rdb3"]) {
    for (let i = 1; i <= 5; i++)
      conv(`body.${b}.${d}.conv${i}`, i === 5 ? features : growth, features + (i - 1) * growth);
  }
}
for (const key of ["conv_body", "conv_up1", "conv_up2", "conv_hr"]) conv(key, features, features);
conv("conv_last", 3, features);

const model = join(dir, "realesrgan-x4plus-random.safetensors");
if (!existsSync(model)) writeSafetensors(model, tensors);
const side = 512;
const data = new Uint8Array(side * side * 3);
for (let y = 0; y < side; y++)
  for (let x = 0; x < side; x++)
    for (let c = 0; c < 3; c++)
      data[(y * side + x) * 3 + c] = (x * (c + 1) + y * (3 - c) + ((x * y) % 17)) & 255;
writeFileSync(join(dir, "upscale-in.png"), encodePng({ width: side, height: side, channels: 3, data }));
process.stdout.write(`${model}\n${join(dir, "upscale-in.png")}\n`);
