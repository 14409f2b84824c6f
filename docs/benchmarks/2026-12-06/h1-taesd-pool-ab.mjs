// TAESD decode 512x512, pool on vs off, two sessions in one process, interleaved
import { createRequire } from "node:module";
import { readdirSync } from "node:fs";
const require = createRequire("/work/wt/fresh/package.json");
const ort = require("onnxruntime-node");
const root = process.env.OPT ?? "/work/bench/fresh/cache/optimized/";
const model = root + readdirSync(root).find((d) => d.startsWith("taesd")) + "/model.onnx";
const mk = (arena) => ort.InferenceSession.create(model, { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "disabled", enableCpuMemArena: arena, enableMemPattern: true });
const s = { on: await mk(true), off: await mk(false) };
const x = new Float32Array(4 * 64 * 64).map((_, i) => Math.sin(i));
const feeds = { latent_sample: new ort.Tensor("float32", x, [1, 4, 64, 64]) };
const times = { on: [], off: [] };
const outs = {};
for (let i = 0; i < Number(process.env.N ?? 5); i++) for (const k of i % 2 ? ["off", "on"] : ["on", "off"]) {
  const w = performance.now(); const r = await s[k].run(feeds); times[k].push(performance.now() - w); outs[k] = r[s[k].outputNames[0]].data;
}
const med = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
for (const k of ["on", "off"]) console.log(`pool ${k}: median ${med(times[k]).toFixed(0)} ms, runs ${times[k].map((t) => t.toFixed(0)).join(" ")}`);
let d = 0; for (let i = 0; i < outs.on.length; i++) if (outs.on[i] !== outs.off[i]) d++;
console.log("values differing", d, "of", outs.on.length);
