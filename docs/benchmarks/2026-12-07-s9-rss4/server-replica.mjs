// The server's 4-step DeepCache image at the onnxruntime level: the text encoder, the full int8 UNet
// (with its deep feature), the shallow branch and TAESD's decoder, all four sessions kept (the saved
// optimised models, options as the engine gives them: level disabled, 2 threads), IMAGES images of
// TE, full, shallow, shallow, full, TAESD. Memory options per network from the variant name:
// usage: node server-replica.mjs WORKTREE CACHE VARIANT [IMAGES]
//   VARIANT: "base" or "+"-joined NET-noarena / NET-nopattern, NET one of te, unet, shallow, taesd
//   (taesd has no pool in the engine already: "base" gives it none)
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
const [root, cache, variant = "base", images = "2"] = process.argv.slice(2);
const ort = createRequire(`${root}/package.json`)("onnxruntime-node");
const dir = `${cache}/optimized/`;
const find = (net, key = "") => `${dir}${readdirSync(dir).find((d) => d.startsWith(`${net}-${key}`))}/model.onnx`;
const st = () => { const s = readFileSync("/proc/self/status", "utf8"); const kb = (k) => (Number(s.match(new RegExp(`${k}:\\s+(\\d+)`))[1]) / 1e6).toFixed(3); return `anon ${kb("RssAnon")} rss ${kb("VmRSS")} hwm ${kb("VmHWM")}`; };
const vs = variant.split("+");
const opt = (net) => ({ executionProviders: ["cpu"], intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: "sequential",
  graphOptimizationLevel: "disabled", logSeverityLevel: 3,
  enableCpuMemArena: net === "taesd" ? false : !vs.includes(`${net}-noarena`), enableMemPattern: !vs.includes(`${net}-nopattern`) });
let cpuTotal = 0;
const timed = async (label, f) => { const w = performance.now(); const c = process.cpuUsage(); const r = await f(); const cu = process.cpuUsage(c);
  const cpu = (cu.user + cu.system) / 1000; if (!label.includes("create")) cpuTotal += cpu;
  console.log(`${variant}\t${label}\twall ${(performance.now() - w).toFixed(0)}\tcpu ${cpu.toFixed(0)}\t${st()}`); return r; };
const f32 = (shape, v) => new ort.Tensor("float32", Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37 + v)), shape);
const te = await timed("te create", () => ort.InferenceSession.create(find("text_encoder"), opt("te")));
const unet = await timed("unet create", () => ort.InferenceSession.create(find("unet", "c75c3afb"), opt("unet")));
const shallow = await timed("shallow create", () => ort.InferenceSession.create(find("unet_shallow"), opt("shallow")));
const taesd = await timed("taesd create", () => ort.InferenceSession.create(find("taesd_decoder", "a0956d40"), opt("taesd")));
const featureName = shallow.inputNames.find((n) => !unet.inputNames.includes(n));
const unetFeeds = (step) => ({ sample: f32([1, 4, 64, 64], step), timestep: new ort.Tensor("float32", Float32Array.of(999 - 250 * step), [1]), encoder_hidden_states: f32([1, 77, 768], 0.5) });
for (let i = 0; i < Number(images); i++) {
  const ids = new ort.Tensor("int32", Int32Array.from({ length: 77 }, (_, k) => (k * 131 + i) % 49408), [1, 77]);
  const teFeeds = Object.fromEntries(te.inputNames.map((n) => [n, n === "input_ids" ? ids : f32([1, 768], 0)]));
  await timed(`te run ${i}`, () => te.run(teFeeds));
  let feature;
  for (let step = 0; step < 4; step++) {
    if (step % 3 === 0) {
      const out = await timed(`unet run ${i}.${step}`, () => unet.run(unetFeeds(step)));
      feature = out[featureName];
    } else await timed(`shallow run ${i}.${step}`, () => shallow.run({ ...unetFeeds(step), [featureName]: feature }));
  }
  await timed(`taesd run ${i}`, () => taesd.run({ [taesd.inputNames[0]]: f32([1, 4, 64, 64], i) }));
}
console.log(`${variant}\tend\tcpu of the runs ${(cpuTotal / 1000).toFixed(1)} s\t${st()}`);
