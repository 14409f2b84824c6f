// node sess.mjs MODEL VARIANT : create, run x2, report cpu/wall/rss
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
const require = createRequire("/work/wt/fresh/package.json");
const ort = require("onnxruntime-node");
const [model, variant = "base"] = process.argv.slice(2);
const rss = () => (Number(readFileSync("/proc/self/status", "utf8").match(/VmRSS:\s+(\d+)/)[1]) / 1e6).toFixed(2);
const hwm = () => (Number(readFileSync("/proc/self/status", "utf8").match(/VmHWM:\s+(\d+)/)[1]) / 1e6).toFixed(2);
const opts = { executionProviders: ["cpu"], intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: "sequential",
  graphOptimizationLevel: "disabled", enableCpuMemArena: true, enableMemPattern: true, logSeverityLevel: 3, extra: {} };
for (const v of variant.split("+")) {
  if (v === "noprepack") opts.extra["session.disable_prepacking"] = "1";
  if (v === "noarena") opts.enableCpuMemArena = false;
  if (v === "nopattern") opts.enableMemPattern = false;
  if (v === "ortdirect") { opts.extra["session.use_ort_model_bytes_directly"] = "1"; opts.extra["session.use_ort_model_bytes_for_initializers"] = "1"; }
  if (v === "all") opts.graphOptimizationLevel = "all";
}
const timed = async (label, f) => { const w = performance.now(); const c = process.cpuUsage(); const r = await f(); const cu = process.cpuUsage(c);
  console.log(`${variant}\t${label}\twall ${(performance.now() - w).toFixed(0)}\tcpu ${((cu.user + cu.system) / 1000).toFixed(0)}\trss ${rss()}\thwm ${hwm()}`); return r; };
const s = await timed("create", () => ort.InferenceSession.create(model, opts));
const feeds = {};
for (const m of s.inputMetadata) {
  const shape = m.shape.map((d) => (typeof d === "number" && d > 0 ? d : 1));
  if (m.name === "sample") shape.splice(0, 4, 1, 4, 64, 64);
  if (m.name === "encoder_hidden_states") shape.splice(0, 3, 1, 77, 768);
  if (m.name === "latent" || m.name === "latents") shape.splice(0, 4, 1, 4, 64, 64);
  if (m.name === "input_ids") { feeds[m.name] = new ort.Tensor("int32", new Int32Array(77).fill(1), [1, 77]); continue; }
  const n = shape.reduce((a, b) => a * b, 1);
  feeds[m.name] = new ort.Tensor(m.type === "int64" ? "int64" : "float32", m.type === "int64" ? new BigInt64Array(n).fill(1n) : new Float32Array(n).fill(0.1), shape);
}
if (process.env.SHOW) console.log(s.inputMetadata);
const runs = Number(process.env.RUNS ?? 2);
for (let i = 0; i < runs; i++) await timed(`run${i + 1}`, () => s.run(feeds));
