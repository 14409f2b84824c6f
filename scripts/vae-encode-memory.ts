/**
 * Peak memory and time of one VAE encode (img2img / inpainting's init image) at a large size,
 * whole vs tiled (EngineOptions.tileLatentSize), each variant in a fresh process so the kernel's
 * peak-RSS mark (VmHWM) belongs to it alone. Not part of `npm test`.
 *
 *   npx tsx scripts/vae-encode-memory.ts [--checkpoint PATH] [--size PX] [--tiles 0,96] [--rounds N]
 *
 * Defaults: `.bench/sd15-random-f16.safetensors`, 1024 px, tile sizes 0 (never tile) and 96 (the
 * default, 768 px tiles), 3 rounds (each runs every variant once, interleaved). A process opens the
 * pipeline, encodes a 64x64 image (loads the encoder session; builds its graph into $SDLITE_CACHE on
 * the first run), reads its resident memory, then times the large encode and reads the peak.
 * Memory in decimal MB (10^6 bytes), as `sdlite bench`. Loads the full-size VAE only (~0.5 GB of weights); run it under `flock /tmp/fullsize.lock` anyway.
 */
import { execFileSync } from "node:child_process";
import { loadavg } from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    checkpoint: { type: "string", default: ".bench/sd15-random-f16.safetensors" },
    size: { type: "string", default: "1024" },
    tiles: { type: "string", default: "0,96" },
    rounds: { type: "string", default: "3" },
    child: { type: "string" },
  },
});

interface Measurement {
  tileLatentSize: number;
  beforeMb: number;
  peakMb: number;
  encodeS: number;
}

async function child(tileLatentSize: number): Promise<Measurement> {
  const { openPipeline } = await import("../src/engine/open-pipeline.js");
  const { readProcMemory } = await import("../src/bench/proc-status.js");
  const size = Number(values.size);
  const pipeline = await openPipeline(resolve(values.checkpoint), { memory: { tileLatentSize } });
  try {
    const vae = pipeline.models.vae;
    await vae.encode(new Float32Array(3 * 64 * 64), [1, 3, 64, 64]);
    const before = readProcMemory("self")?.rssBytes ?? Number.NaN;
    // a smooth image in [-1, 1]: the encoder's cost does not depend on the content
    const image = new Float32Array(3 * size * size);
    for (let i = 0; i < image.length; i++) image[i] = Math.sin(i / 997);
    const start = performance.now();
    await vae.encode(image, [1, 3, size, size]);
    const encodeS = (performance.now() - start) / 1000;
    const peak = readProcMemory("self")?.hwmBytes ?? Number.NaN;
    return { tileLatentSize, beforeMb: before / 1e6, peakMb: peak / 1e6, encodeS };
  } finally {
    await pipeline.close();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

if (values.child !== undefined) {
  process.stdout.write(`${JSON.stringify(await child(Number(values.child)))}\n`);
} else {
  const tiles = values.tiles.split(",").map(Number);
  const results = new Map<number, Measurement[]>(tiles.map((t) => [t, []]));
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const t of tiles) {
      const load = loadavg()[0].toFixed(1);
      const out = execFileSync(
        process.execPath,
        ["--import", "tsx", process.argv[1], ...process.argv.slice(2), "--child", String(t)],
        { encoding: "utf-8", stdio: ["ignore", "pipe", "inherit"] },
      );
      const m = JSON.parse(out.trim().split("\n").at(-1)!) as Measurement;
      results.get(t)!.push(m);
      console.error(
        `round ${round + 1} tileLatentSize=${t}: encode ${m.encodeS.toFixed(2)} s, RSS before ${m.beforeMb.toFixed(0)} MB, peak ${m.peakMb.toFixed(0)} MB (load ${load})`,
      );
    }
  }
  console.log(
    `| tileLatentSize | ${values.size}x${values.size} encode (median) | range | peak RSS (median) | RSS before the encode | runs |`,
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const [t, ms] of results) {
    const times = ms.map((m) => m.encodeS);
    console.log(
      `| ${t === 0 ? "0 (whole image)" : `${t} (${8 * t} px tiles)`} | ${median(times).toFixed(2)} s | ${Math.min(...times).toFixed(2)}–${Math.max(...times).toFixed(2)} s | ${median(ms.map((m) => m.peakMb)).toFixed(0)} MB | ${median(ms.map((m) => m.beforeMb)).toFixed(0)} MB | ${ms.length} |`,
    );
  }
}
