// Session creation of one saved optimised model in this process (wall, process CPU, RSS), its first
// call (and with "second" a second) on fixed inputs, and a hash of every output; or "dump": save a
// model again as onnxruntime optimises it (config entries in the JSON, e.g. prepacked weights).
//   node create-probe.mjs load MODEL.onnx [JSON: threads, level, config, bytes, second, hidden, log, tag]
//   node create-probe.mjs dump SRC.onnx DST.onnx|DST.ort [JSON]
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
const require = createRequire(import.meta.url); // onnxruntime-node from the repository
const ort = require("onnxruntime-node");
const [mode, src, dst, extraJson] = process.argv.slice(2);
const extraText = mode === "load" ? dst : extraJson;
const extra = extraText ? JSON.parse(extraText) : {};
if (extra.log === 0) ort.env.logLevel = "verbose";
const rss = () => Number(readFileSync("/proc/self/status", "utf8").match(/VmRSS:\s+(\d+)/)[1]) / 1024 / 1024;
const hwm = () => Number(readFileSync("/proc/self/status", "utf8").match(/VmHWM:\s+(\d+)/)[1]) / 1024 / 1024;
const opts = (more = {}) => ({
  executionProviders: ["cpu"], intraOpNumThreads: extra.threads ?? 2, interOpNumThreads: 1, executionMode: "sequential",
  graphOptimizationLevel: extra.level ?? "disabled", enableCpuMemArena: true, enableMemPattern: true, logSeverityLevel: extra.log ?? 3,
  ...more,
});
function feeds(session) {
  const f = {};
  const seeded = (n, s) => { const a = new Float32Array(n); let x = s; for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; a[i] = (x / 2 ** 32) * 2 - 1; } return a; };
  for (const name of session.inputNames) {
    if (name === "sample") f[name] = new ort.Tensor("float32", seeded(4 * 64 * 64, 1), [1, 4, 64, 64]);
    else if (name === "timestep") f[name] = new ort.Tensor("float32", new Float32Array([999]), [1]);
    else if (name === "encoder_hidden_states") f[name] = new ort.Tensor("float32", seeded(77 * 768, 2), [1, 77, 768]);
    else if (name === "timestep_cond") f[name] = new ort.Tensor("float32", seeded(256, 3), [1, 256]);
    else if (name === "extra_token_embeddings") f[name] = new ort.Tensor("float32", seeded(extra.hidden ?? 768, 4), [1, extra.hidden ?? 768]);
    else if (name === "input_ids") f[name] = new ort.Tensor("int32", Int32Array.from({ length: 77 }, (_, i) => (i * 37) % 49407), [1, 77]);
    else throw new Error(`input ${name}`);
  }
  return f;
}
if (mode === "dump") {
  const cfg = { "session.optimized_model_external_initializers_file_name": "model.onnx.data", "session.optimized_model_external_initializers_min_size_in_bytes": "1024", ...(extra.config ?? {}) };
  const t = performance.now();
  const s = await ort.InferenceSession.create(src, opts({ optimizedModelFilePath: dst, extra: cfg }));
  console.log(JSON.stringify({ dumpS: (performance.now() - t) / 1000, inputs: s.inputNames }));
} else if (mode === "load") {
  const c0 = process.cpuUsage(); const t0 = performance.now(); const r0 = rss();
  let s;
  if (extra.bytes) { const b = readFileSync(src); s = await ort.InferenceSession.create(b, opts({ extra: extra.config ?? {} })); }
  else s = await ort.InferenceSession.create(src, opts(extra.config ? { extra: extra.config } : {}));
  const t1 = performance.now(); const c1 = process.cpuUsage(c0); const r1 = rss();
  const f = feeds(s);
  const t2 = performance.now(); const out = await s.run(f); const t3 = performance.now();
  const h = createHash("sha256"); let n = 0; for (const k of s.outputNames) { const d = out[k].data; h.update(Buffer.from(d.buffer, d.byteOffset, d.byteLength)); n += d.length; } const o = { length: n };
  const hash = h.digest("hex").slice(0, 16);
  let second;
  if (extra.second) { const t4 = performance.now(); await s.run(f); second = (performance.now() - t4) / 1000; }
  console.log(JSON.stringify({ tag: extra.tag, src: src.split("/").slice(-2).join("/"), createS: (t1 - t0) / 1000, createCpuS: (c1.user + c1.system) / 1e6, rssAfterCreateGB: r1, firstRunS: (t3 - t2) / 1000, secondRunS: second, peakRssGB: hwm(), out: hash, n: o.length }));
}
