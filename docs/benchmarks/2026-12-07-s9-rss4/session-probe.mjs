// The saved optimised models as the engine loads them (level disabled, 2 threads, arena + pattern on),
// in one process: what releasing the text encoder's session returns, what re-creating it costs, and the
// shallow DeepCache UNet with and without its memory pool. usage: node session-probe.mjs WORKTREE CACHE MODE
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
const [root, cache, mode = "te"] = process.argv.slice(2);
const ort = createRequire(`${root}/package.json`)("onnxruntime-node");
const dir = `${cache}/optimized/`;
const find = (p) => `${dir}${readdirSync(dir).find((d) => d.startsWith(`${p}-`))}/model.onnx`;
const kb = (s, k) => Number(s.match(new RegExp(`${k}:\\s+(\\d+)`))[1]) / 1e6;
const mem = () => { const s = readFileSync("/proc/self/status", "utf8"); return `anon ${kb(s, "RssAnon").toFixed(3)} file ${kb(s, "RssFile").toFixed(3)} hwm ${kb(s, "VmHWM").toFixed(3)}`; };
const opts = (arena = true) => ({ executionProviders: ["cpu"], intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: "sequential",
  graphOptimizationLevel: "disabled", enableCpuMemArena: arena, enableMemPattern: true, logSeverityLevel: 3 });
const timed = async (label, f) => { const w = performance.now(); const c = process.cpuUsage(); const r = await f(); const cu = process.cpuUsage(c);
  console.log(`${mode}\t${label}\twall ${(performance.now() - w).toFixed(0)} ms\tcpu ${((cu.user + cu.system) / 1000).toFixed(0)} ms\t${mem()}`); return r; };
const f32 = (shape, v) => new ort.Tensor("float32", Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37 + v)), shape);
console.log(`${mode}\tstart\t${mem()}`);
if (mode === "te") {
  const path = find("text_encoder");
  for (let i = 0; i < 3; i++) {
    const s = await timed(`te create ${i}`, () => ort.InferenceSession.create(path, opts()));
    const feeds = Object.fromEntries(s.inputNames.map((n) => [n, n === "input_ids" ? new ort.Tensor("int32", Int32Array.from({ length: 77 }, (_, k) => (k * 131) % 49408), [1, 77]) : f32([1, 768], 0)]));
    await timed(`te run ${i}`, () => s.run(feeds));
    await timed(`te release ${i}`, () => s.release());
  }
} else {
  // shallow DeepCache UNet: A with its pool, B without; interleaved runs, one process
  const path = find("unet_shallow");
  const a = await timed("shallow create pool", () => ort.InferenceSession.create(path, opts(true)));
  const b = mode === "shallow-ab" ? await timed("shallow create nopool", () => ort.InferenceSession.create(path, opts(false))) : undefined;
  const meta = Object.fromEntries(a.inputMetadata.map((m) => [m.name, m.shape]));
  const dims = { sample: [1, 4, 64, 64], timestep: [1], encoder_hidden_states: [1, 77, 768] };
  const feeds = Object.fromEntries(a.inputNames.map((n, i) => [n, f32(dims[n] ?? meta[n].map((d) => (typeof d === "number" ? d : 1)), i)]));
  console.log(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v.dims.join("x")])));
  for (let i = 0; i < 4; i++) {
    const ra = await timed(`run pool ${i}`, () => a.run(feeds));
    if (b) {
      const rb = await timed(`run nopool ${i}`, () => b.run(feeds));
      const [x, y] = [ra[a.outputNames[0]].data, rb[b.outputNames[0]].data];
      let diff = 0; for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) diff++;
      console.log(`${mode}\toutputs differ in ${diff} of ${x.length}`);
    }
  }
}
