/**
 * `sdlite upscale image.png -u <model file|Lanczos|Nearest> [--scale N] [-o out.png]`: A1111's
 * extras upscale from the command line. The input's text chunks (its generation parameters) are
 * kept and the upscale is recorded as A1111 records it; an existing output is never overwritten
 * (out-1.png, out-2.png, … instead). Progress over the model's tiles goes to stderr.
 */
import { readFile } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import cliProgress from "cli-progress";
import { type Command, Option } from "commander";
import { describeRepair } from "../../cache/cache-entries.js";
import { GraphCache } from "../../cache/graph-cache.js";
import { toRgb } from "../../image/color.js";
import { checkOutputFolder, ensureOutputFolder } from "../../image/output-folder.js";
import { writeFileNoOverwrite } from "../../image/output-path.js";
import { decodePng, encodePng, hasPngSignature, pngHeaderSize } from "../../image/png.js";
import { rgbPixels } from "../../image/types.js";
import { formatPostprocessInfo, postprocessTextChunks } from "../../upscale/postprocess-info.js";
import { checkedUpscaleTarget, type UpscaleProgress, upscaleBy } from "../../upscale/upscale-by.js";
import { DEVICE_NAMES, type DeviceName } from "../device-names.js";
import { formatDuration } from "../format.js";
import { parseInteger, parseNumber } from "../option-parsers.js";

export interface UpscaleOptions {
  upscaler: string;
  scale?: number;
  output?: string;
  tile?: number;
  tilePad?: number;
  threads?: number;
  device?: DeviceName;
  json?: boolean;
}

async function readPngBytes(file: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new Error(`no such file: ${file}`);
    if (code === "EISDIR") throw new Error(`${file} is a directory, not a PNG file`);
    throw err;
  }
  if (!hasPngSignature(bytes)) throw new Error(`${file} is not a PNG file`);
  return bytes;
}

function decodeChecked(file: string, bytes: Uint8Array, check: (width: number, height: number) => void) {
  try {
    const { width, height } = pngHeaderSize(bytes);
    check(width, height); // before any pixel is decoded
    return decodePng(bytes);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}

/** `photo.png` → `photo-upscaled.png` beside it. */
export function defaultUpscaleOutput(input: string): string {
  return join(dirname(input), `${basename(input, extname(input))}-upscaled.png`);
}

/** Tile progress: a bar on a terminal, otherwise a line per tile (at most ~10 per pass). */
function tileReporter(stream: NodeJS.WriteStream) {
  let bar: cliProgress.SingleBar | undefined;
  let lastLine = -1;
  const started = Date.now();
  return {
    update(p: UpscaleProgress) {
      const elapsed = Date.now() - started;
      if (stream.isTTY) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              format: "upscaling |{bar}| {value}/{total} tiles | pass {pass} | {elapsed}",
              stream,
              barsize: 30,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(p.tiles, 0, { pass: p.pass + 1, elapsed: "" });
        }
        bar.setTotal(p.tiles);
        bar.update(p.tile, { pass: p.pass + 1, elapsed: formatDuration(elapsed) });
        return;
      }
      const decile = Math.floor((p.tile / p.tiles) * 10) + p.pass * 11;
      if (decile === lastLine && p.tile !== p.tiles) return;
      lastLine = decile;
      stream.write(`upscaling: tile ${p.tile}/${p.tiles} (pass ${p.pass + 1}), ${formatDuration(elapsed)}\n`);
    },
    finish() {
      bar?.stop();
    },
  };
}

export async function runUpscale(input: string, o: UpscaleOptions): Promise<void> {
  if (o.scale !== undefined && !(o.scale > 0))
    throw new Error(`--scale must be a positive number, got ${o.scale}`);
  if (o.upscaler.toLowerCase() === "none") {
    throw new Error("-u None does not upscale; choose Lanczos, Nearest or an upscaler model file");
  }
  const bytes = await readPngBytes(input);
  const wanted = o.output ?? defaultUpscaleOutput(input);
  await checkOutputFolder(dirname(wanted)); // before the work, not after it
  const { openUpscaler } = await import("../../upscale/open-upscaler.js"); // loads onnxruntime only here
  const cache = new GraphCache(undefined, {
    onRepair: (r) => process.stderr.write(`${describeRepair(r)}\n`),
  });
  const { chooseDevice, cpuAfterFailure, describeDevice, deviceDoc } = await import("../device-choice.js");
  let device = o.device ? await chooseDevice(o.device) : undefined;
  if (device) process.stderr.write(`${describeDevice(device)}\n`);
  const open = () =>
    openUpscaler(o.upscaler, {
      threads: o.threads,
      tile: o.tile,
      tilePad: o.tilePad,
      cache,
      executionProviders: device?.executionProviders,
    });
  let upscaler = open();
  const scale = o.scale ?? upscaler.scale;
  let png: ReturnType<typeof decodePng>;
  try {
    // an output too large is refused from the header, before decoding or running anything
    png = decodeChecked(input, bytes, (width, height) => checkedUpscaleTarget(width, height, scale));
  } catch (err) {
    await upscaler.close();
    throw err;
  }
  const image = toRgb(png);
  const progress = tileReporter(process.stderr);
  const started = Date.now();
  let result: Awaited<ReturnType<typeof upscaleBy>>;
  try {
    result = await upscaleBy(upscaler, image, scale, { onProgress: (p) => progress.update(p) }).catch(
      async (err: unknown) => {
        // --device auto: a GPU that fails mid-run hands over to the CPU
        const onCpu = device ? cpuAfterFailure(device, err) : undefined;
        if (!onCpu) throw err;
        device = onCpu;
        process.stderr.write(`${describeDevice(onCpu)}\n`);
        await upscaler.close();
        upscaler = open();
        return upscaleBy(upscaler, image, scale, { onProgress: (p) => progress.update(p) });
      },
    );
  } finally {
    progress.finish();
    await upscaler.close();
  }
  const seconds = (Date.now() - started) / 1000;
  const infotext = formatPostprocessInfo([
    ["Postprocess upscale by", scale],
    ["Postprocess upscaler", upscaler.name],
  ]);
  const output = encodePng(rgbPixels(result), postprocessTextChunks(png.text, infotext));
  await ensureOutputFolder(dirname(wanted)); // -o new-folder/big.png makes the folder, as generate -o does
  const file = await writeFileNoOverwrite(wanted, output);
  if (o.json) {
    const summary = {
      file,
      width: result.width,
      height: result.height,
      upscaler: upscaler.name,
      scale,
      infotext,
      seconds,
      ...(device ? { device: deviceDoc(device) } : {}),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    process.stderr.write(
      `${image.width}x${image.height} → ${result.width}x${result.height} in ${formatDuration(seconds * 1000)}\n`,
    );
    process.stdout.write(`${file}\n`);
  }
}

export function registerUpscaleCommand(program: Command): void {
  program
    .command("upscale")
    .description("upscale a PNG with an ESRGAN-family model (.pth/.safetensors) or Lanczos/Nearest")
    .argument("<image>", "the PNG to upscale")
    .requiredOption(
      "-u, --upscaler <name>",
      "an upscaler weights file (RealESRGAN_x4plus.pth, 4x-UltraSharp.pth, …), Lanczos or Nearest",
    )
    .option("--scale <n>", "upscale factor (default: the model's own, 4 for Lanczos/Nearest)", parseNumber)
    .option(
      "-o, --output <file>",
      "output PNG (default <image>-upscaled.png; never overwritten: name-1.png, …)",
    )
    .option("--tile <px>", "tile size in input pixels; 0: no tiling (default 192)", parseInteger)
    .option("--tile-pad <px>", "context pixels around each tile (default 16)", parseInteger)
    .option("--threads <n>", "threads per operator (default: physical cores)", parseInteger)
    .addOption(
      new Option(
        "--device <name>",
        "where an upscaler model runs: cpu (default), webgpu (an error if no adapter works), auto (WebGPU on a GPU if usable, else the CPU); dml/coreml where bundled",
      ).choices([...DEVICE_NAMES]),
    )
    .option("--json", "print one JSON object (file, size, infotext, seconds) on stdout")
    .addHelpText(
      "after",
      "\nSizes follow A1111: each side × scale, rounded down to a multiple of 8; a model runs as often as needed\n(at most 3 times) and the result is resized to that size with Lanczos.\n\nExample:\n  sdlite upscale 00012-1234.png -u RealESRGAN_x4plus.pth --scale 2 -o big.png",
    )
    .action(async (image: string, options: UpscaleOptions) => {
      if (options.tile !== undefined && options.tile < 0)
        throw new Error(`--tile must be 0 or more, got ${options.tile}`);
      if (options.tilePad !== undefined && options.tilePad < 0) {
        throw new Error(`--tile-pad must be 0 or more, got ${options.tilePad}`);
      }
      await runUpscale(image, options);
    });
}
