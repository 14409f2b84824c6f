// one process, server style: TE, UNet, TAESD sessions kept; 3 images; RSS after each stage
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
const require = createRequire("/work/wt/fresh/package.json");
const ort = require("onnxruntime-node");
const [variant = "base"] = process.argv.slice(2);
const root = "/work/bench/fresh/cache/optimized/";
const find = (p) => root + require("fs").readdirSync(root).find((d) => d.startsWith(p)) + "/model.onnx";
const st = (k) => (Number(readFileSync("/proc/self/status", "utf8").match(new RegExp(k + ":\\s+(\\d+)"))[1]) / 1e6).toFixed(2);
const base = () => ({ executionProviders: ["cpu"], intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: "sequential",
  graphOptimizationLevel: "disabled", enableCpuMemArena: true, enableMemPattern: true, logSeverityLevel: 3, extra: {} });
const vs = variant.split("+");
const opt = (net) => { const o = base();
  if (vs.includes(`${net}-noprepack`)) o.extra["session.disable_prepacking"] = "1";
  if (vs.includes(`${net}-noarena`) || vs.includes("noarena")) o.enableCpuMemArena = false;
  if (vs.includes(`${net}-nopattern`)) o.enableMemPattern = false;
  return o; };
const log = (l, w, c) => console.log(`${variant}\t${l}\twall ${w.toFixed(0)}\tcpu ${c.toFixed(0)}\trss ${st("VmRSS")}\thwm ${st("VmHWM")}`);
const timed = async (l, f) => { const w = performance.now(); const c = process.cpuUsage(); const r = await f(); const cu = process.cpuUsage(c); log(l, performance.now() - w, (cu.user + cu.system) / 1000); return r; };
const t = (type, shape, v) => new ort.Tensor(type, type === "int32" ? new Int32Array(shape.reduce((a, b) => a * b)).fill(v) : new Float32Array(shape.reduce((a, b) => a * b)).fill(v), shape);
const te = await timed("te create", () => ort.InferenceSession.create(find("text_encoder"), opt("te")));
const unet = await timed("unet create", () => ort.InferenceSession.create(find("unet"), opt("unet")));
const taesd = await timed("taesd create", () => ort.InferenceSession.create(find("taesd"), opt("taesd")));
console.log(te.inputNames, unet.inputNames, taesd.inputNames, taesd.inputMetadata[0].shape);
const runOpts = vs.includes("shrink") ? { extra: { "memory.enable_memory_arena_shrinkage": "cpu:0" } } : {};
for (let i = 0; i < Number(process.env.IMAGES ?? 3); i++) {
  const w = performance.now(); const c = process.cpuUsage();
  await timed(`te run${i}`, () => te.run({ input_ids: t("int32", [1, 77], 5), extra_token_embeddings: t("float32", [1, 768], 0) }, runOpts));
  await timed(`unet run${i}`, () => unet.run({ sample: t("float32", [1, 4, 64, 64], 0.1), timestep: t("float32", [1], 999), encoder_hidden_states: t("float32", [1, 77, 768], 0.1) }, runOpts));
  await timed(`taesd run${i}`, () => taesd.run({ [taesd.inputNames[0]]: t("float32", [1, 4, 64, 64], 0.1) }, runOpts));
  const cu = process.cpuUsage(c); log(`image${i}`, performance.now() - w, (cu.user + cu.system) / 1000);
}
