// The bench's image stage (runStage) in this process, with RssAnon / RssFile / VmHWM logged around every
// onnxruntime session creation and run, and an outside sampler (every 20 ms) for the peaks inside a run.
// usage: node memory-trace.mjs WORKTREE CACHE_DIR STEPS RUNS key=value,...   (writes TSV to stdout)
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
const [root, cacheDir, steps = "4", runs = "3", opts = ""] = process.argv.slice(2);
const require = createRequire(`${root}/package.json`);
const ort = require("onnxruntime-node");
const { runStage } = await import(`${root}/dist/src/bench/stage-runners.js`);
const t0 = performance.now();
const kb = (s, k) => Number(s.match(new RegExp(`${k}:\\s+(\\d+)`))?.[1] ?? 0);
const mem = () => {
  const s = readFileSync("/proc/self/status", "utf8");
  return ["VmRSS", "RssAnon", "RssFile", "VmHWM"].map((k) => (kb(s, k) / 1e6).toFixed(3)).join("\t");
};
const mark = (label) => console.log(`${((performance.now() - t0) / 1000).toFixed(2)}\t${label}\t${mem()}`);
// the outside sampler: VmRSS RssAnon RssFile every 20 ms, the max of each between marks
const sampler = spawn("sh", ["-c", `while :; do grep -E '^(VmRSS|RssAnon|RssFile)' /proc/${process.pid}/status | tr -s ' ' | cut -d' ' -f2 | paste -sd' '; sleep 0.02; done`], { stdio: ["ignore", "pipe", "ignore"] });
let buf = "";
let max = [0, 0, 0];
sampler.stdout.on("data", (d) => {
  buf += d;
  const lines = buf.split("\n");
  buf = lines.pop();
  for (const l of lines) l.split(" ").map(Number).forEach((v, i) => (max[i] = Math.max(max[i], v || 0)));
});
const peakSince = () => { const p = max.map((v) => (v / 1e6).toFixed(3)).join("/"); max = [0, 0, 0]; return p; };
const name = (s) => (s._label ??= `s${(name.n = (name.n ?? 0) + 1)}`);
const create = ort.InferenceSession.create;
ort.InferenceSession.create = async function (path, o) {
  await new Promise((r) => setTimeout(r, 60));
  mark(`create> ${typeof path === "string" ? path.split("/").slice(-2, -1)[0] : "bytes"} peak ${peakSince()}`);
  const s = await create.call(this, path, o);
  s._label = typeof path === "string" ? path.split("/").slice(-2, -1)[0].split("-")[0] : "bytes";
  await new Promise((r) => setTimeout(r, 60));
  mark(`create< ${s._label} peak ${peakSince()}`);
  return s;
};
const run = ort.InferenceSession.prototype.run;
ort.InferenceSession.prototype.run = async function (...a) {
  await new Promise((r) => setTimeout(r, 60));
  mark(`run> ${name(this)} peak ${peakSince()}`);
  const r = await run.apply(this, a);
  await new Promise((r) => setTimeout(r, 60));
  mark(`run< ${name(this)} peak ${peakSince()}`);
  return r;
};
const options = Object.fromEntries(opts.split(",").filter(Boolean).map((kv) => { const [k, v] = kv.split("="); return [k, v === "true" ? true : v === "false" ? false : /^\d+$/.test(v) ? Number(v) : v]; }));
console.log("t\tlabel\tVmRSS\tRssAnon\tRssFile\tVmHWM (GB)");
mark("start");
const outcome = await runStage({
  stage: "image", modelPath: "/work/bench/sd15/model.safetensors", taesdPath: "/work/bench/taesd", cacheDir,
  options, size: 512, runs: Number(runs),
  image: { prompt: "a photograph of an astronaut riding a horse", sampler: "LCM", steps: Number(steps), guidance: 1, seed: 42 },
}, (p) => mark(`image ${p.run}/${p.runs} ${(p.ms / 1000).toFixed(2)} s peak ${peakSince()}`));
mark("end");
const cpu = process.cpuUsage();
console.log(`# runs ms ${outcome.runs.map((r) => r.ms.toFixed(0)).join(" ")}; cpu ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`);
sampler.kill();
process.exit(0);
