// One network's saved optimised model as two sessions in one process, as the engine loads it (level
// disabled, 2 threads, memory pool on): A with onnxruntime's memory-pattern planning, B without.
// Runs interleaved A, B, A, B…: wall and CPU per run, RSS growth after each (the session that just ran
// owns it), and whether the two outputs are bit-identical. usage: node pattern-ab.mjs WORKTREE CACHE NET RUNS
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
const [root, cache, net = "unet_shallow", runs = "4"] = process.argv.slice(2);
const ort = createRequire(`${root}/package.json`)("onnxruntime-node");
const dir = `${cache}/optimized/`;
const model = `${dir}${readdirSync(dir).find((d) => d.startsWith(`${net}-`) && readFileSync(`${dir}${d}/entry.json`, "utf8").includes(process.env.GRAPH ?? ""))}/model.onnx`;
const kb = (s, k) => Number(s.match(new RegExp(`${k}:\\s+(\\d+)`))[1]) / 1e6;
const anon = () => kb(readFileSync("/proc/self/status", "utf8"), "RssAnon");
const opts = (pattern) => ({ executionProviders: ["cpu"], intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: "sequential",
  graphOptimizationLevel: "disabled", enableCpuMemArena: true, enableMemPattern: pattern, logSeverityLevel: 3 });
const f32 = (shape, v) => new ort.Tensor("float32", Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37 + v)), shape);
console.log(`model ${model}`);
const sessions = {};
for (const [name, pattern] of [["pattern", true], ["nopattern", false]]) {
  const before = anon();
  sessions[name] = await ort.InferenceSession.create(model, opts(pattern));
  console.log(`${net}\t${name}\tcreate\tanon +${(anon() - before).toFixed(3)} GB`);
}
const a = sessions.pattern;
const meta = Object.fromEntries(a.inputMetadata.map((m) => [m.name, m.shape]));
// the shallow branch's deep feature as the full 512x512 UNet gives it (640 channels at 64x64)
const dims = { sample: [1, 4, 64, 64], timestep: [1], encoder_hidden_states: [1, 77, 768], deep_feature: [1, 640, 64, 64] };
const feeds = Object.fromEntries(a.inputNames.map((n, i) => [n, f32(dims[n] ?? meta[n].map((d) => (typeof d === "number" ? d : 1)), i)]));
console.log(`feeds ${Object.entries(feeds).map(([k, v]) => `${k} ${v.dims.join("x")}`).join(", ")}`);
const times = { pattern: [], nopattern: [] };
const grown = { pattern: 0, nopattern: 0 };
for (let i = 0; i < Number(runs); i++) {
  const out = {};
  for (const name of i % 2 === 0 ? ["pattern", "nopattern"] : ["nopattern", "pattern"]) {
    const before = anon(); const w = performance.now(); const c = process.cpuUsage();
    out[name] = await sessions[name].run(feeds);
    const cu = process.cpuUsage(c); const ms = performance.now() - w; const g = anon() - before;
    grown[name] += g; times[name].push(ms);
    console.log(`${net}\t${name}\trun ${i}\twall ${ms.toFixed(0)} ms\tcpu ${((cu.user + cu.system) / 1000).toFixed(0)} ms\tanon +${g.toFixed(3)} GB (total ${grown[name].toFixed(3)})`);
  }
  for (const o of a.outputNames) {
    const [x, y] = [out.pattern[o].data, out.nopattern[o].data];
    let diff = 0; for (let k = 0; k < x.length; k++) if (x[k] !== y[k] && !(Number.isNaN(x[k]) && Number.isNaN(y[k]))) diff++;
    console.log(`${net}\trun ${i}\toutput ${o}: ${diff} of ${x.length} values differ`);
  }
}
const median = (v) => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)];
console.log(`${net}\tmedian wall: pattern ${median(times.pattern).toFixed(0)} ms, nopattern ${median(times.nopattern).toFixed(0)} ms; held after the runs: pattern +${grown.pattern.toFixed(3)} GB, nopattern +${grown.nopattern.toFixed(3)} GB`);
