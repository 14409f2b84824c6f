/**
 * Writes a random SD1.x or SD 2.x single-file checkpoint (LDM key names, all three components) for
 * benchmarks and loader tests:
 *
 *   npx tsx scripts/make-random-checkpoint.ts <out.safetensors> [--config sd15|sd21|sd-turbo|tiny|tiny-sd2] [--dtype F16|BF16|F32] [--seed N]
 *
 * `sd15` (default) is full size, about 2.1 GB in F16; `sd21` and `sd-turbo` are SD 2.1's shapes
 * (OpenCLIP-H text tower), about 2.6 GB in F16 — give an SD-Turbo file a name containing "turbo"
 * (e.g. sd-turbo-random.safetensors), which is what makes sdlite run it with Turbo's settings.
 * `tiny` / `tiny-sd2` are the fixtures' tiny shapes and also write `<out>.sdlite.json` with the
 * group/head counts their shapes cannot tell. Keep the output out of git (e.g. under /tmp or .bench/).
 */
import { parseArgs } from "node:util";
import {
  CHECKPOINT_PRESETS,
  type RandomCheckpointDtype,
  writeRandomCheckpoint,
} from "../src/weights/random-checkpoint.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    config: { type: "string", default: "sd15" },
    dtype: { type: "string", default: "F16" },
    seed: { type: "string", default: "0" },
  },
});

const [out] = positionals;
const preset = CHECKPOINT_PRESETS[values.config as keyof typeof CHECKPOINT_PRESETS];
const dtype = values.dtype as RandomCheckpointDtype;
const seed = Number(values.seed);
if (!out || !preset || !["F16", "BF16", "F32"].includes(dtype) || !Number.isSafeInteger(seed)) {
  console.error(
    `usage: make-random-checkpoint.ts <out.safetensors> [--config ${Object.keys(CHECKPOINT_PRESETS).join("|")}] [--dtype F16|BF16|F32] [--seed N]`,
  );
  process.exit(2);
}

if (values.config === "sd-turbo" && !/turbo/i.test(out)) {
  console.error(`note: ${out} has no "turbo" in its name, so sdlite will run it as plain SD 2.1`);
}
const started = performance.now();
const result = writeRandomCheckpoint(out, { preset, dtype, seed });
const seconds = (performance.now() - started) / 1000;
console.log(
  `${out}: ${result.tensors} tensors, ${(result.bytes / 1e9).toFixed(3)} GB of ${dtype} data in ${seconds.toFixed(1)} s` +
    (result.sidecar ? `; overrides in ${result.sidecar}` : ""),
);
