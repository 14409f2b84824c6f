const t0 = performance.now();
const cpu0 = process.cpuUsage();
const log = (...a) => process.stderr.write(`[trace ${(performance.now()).toFixed(0)}ms cpu ${((process.cpuUsage().user+process.cpuUsage().system)/1000).toFixed(0)}ms] ${a.join(" ")}\n`);
log("preload (node startup until here)");
const fs = require("fs");
const big = (p) => typeof p === "string" && /safetensors|\.onnx|\.data|\.ort/.test(p);
for (const name of ["openSync", "readFileSync"]) {
  const orig = fs[name];
  fs[name] = function (p, ...rest) { if (big(String(p))) log(name, p); return orig.call(this, p, ...rest); };
}
const origOpen = fs.promises.open;
fs.promises.open = function (p, ...r) { if (big(String(p))) log("promises.open", p); return origOpen.call(this, p, ...r); };
const ort = require(require.resolve("onnxruntime-node", { paths: [process.cwd()] }));
const create = ort.InferenceSession.create;
ort.InferenceSession.create = async function (p, o) {
  const s = performance.now(); const c = process.cpuUsage();
  const name = typeof p === "string" ? p.split("/").slice(-2).join("/") : "bytes";
  log("create start", name);
  const sess = await create.call(this, p, o);
  const cu = process.cpuUsage(c);
  log("create end", name, (performance.now() - s).toFixed(0), "ms wall", ((cu.user + cu.system) / 1000).toFixed(0), "ms cpu");
  const run = sess.run.bind(sess);
  sess.run = async (...a) => { const s2 = performance.now(); const c2 = process.cpuUsage(); const r = await run(...a); const cu2 = process.cpuUsage(c2); log("run", name, (performance.now() - s2).toFixed(0), "ms wall", ((cu2.user+cu2.system)/1000).toFixed(0), "ms cpu"); return r; };
  const rel = sess.release.bind(sess);
  sess.release = async () => { log("release", name); return rel(); };
  return sess;
};
process.on("exit", () => { const io = fs.readFileSync("/proc/self/io", "utf8").replace(/\n/g, " "); const st = fs.readFileSync("/proc/self/status","utf8").match(/VmHWM:\s+\d+ kB/)[0]; log("exit", io, st); });
