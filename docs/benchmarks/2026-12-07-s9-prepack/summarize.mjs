// Summarizes run-series.sh's files: per run beforeFirstStepMs, the text encoder's and UNet's session
// creation (wall, CPU), the step, whole-process wall / CPU (GNU time) and peak RSS; then medians per
// build and path. Usage: node summarize.mjs DIR
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
const dir = process.argv[2];
const runs = readdirSync(dir)
  .filter((f) => /^r\d+-(before|after)-w[01]\.json$/.test(f))
  .map((f) => f.replace(".json", ""));
const field = (text, name) => text.match(new RegExp(`${name}: (.*)`))?.[1].trim();
const seconds = (clock) => clock.split(":").reduce((acc, part) => acc * 60 + Number(part), 0);
const rows = runs.map((tag) => {
  const doc = JSON.parse(readFileSync(join(dir, `${tag}.json`), "utf8"));
  const time = readFileSync(join(dir, `${tag}.time`), "utf8");
  const load = readFileSync(join(dir, `${tag}.load`), "utf8").split("\n")[0].split(" ")[0];
  const s = doc.timings.startup;
  const net = (n) => s.sessions.find((x) => x.network === n);
  return {
    tag,
    path: tag.replace(/^r\d+-/, ""),
    load: Number(load),
    beforeFirstStepMs: s.beforeFirstStepMs,
    teCreate: net("text_encoder").createMs,
    teCpu: net("text_encoder").createCpuMs,
    teRun: net("text_encoder").firstRunMs,
    unetAt: net("unet").createdAtMs,
    unetCreate: net("unet").createMs,
    unetCpu: net("unet").createCpuMs,
    unetStep: net("unet").firstRunMs,
    wallS: seconds(field(time, "Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)")),
    cpuS: Number(field(time, "User time \\(seconds\\)")) + Number(field(time, "System time \\(seconds\\)")),
    peakRssGB: Number(field(time, "Maximum resident set size \\(kbytes\\)")) / 1024 / 1024,
  };
});
rows.sort((a, b) => a.tag.localeCompare(b.tag));
console.table(rows);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
for (const path of ["before-w0", "after-w0", "before-w1", "after-w1"]) {
  const mine = rows.filter((r) => r.path === path);
  if (!mine.length) continue;
  const m = (k) => median(mine.map((r) => r[k]));
  const all = (k) => mine.map((r) => Math.round(r[k])).join(", ");
  console.log(
    `${path} (${mine.length} runs): beforeFirstStep ${m("beforeFirstStepMs").toFixed(0)} ms (${all("beforeFirstStepMs")}), unet create ${m("unetCreate").toFixed(0)} ms wall / ${m("unetCpu").toFixed(0)} ms CPU, te create ${m("teCreate").toFixed(0)} / ${m("teCpu").toFixed(0)} ms, step ${m("unetStep").toFixed(0)} ms, wall ${m("wallS").toFixed(2)} s, CPU ${m("cpuS").toFixed(2)} s, peak RSS ${m("peakRssGB").toFixed(3)} GB (max ${Math.max(...mine.map((r) => r.peakRssGB)).toFixed(3)}), load ${m("load")}`,
  );
}
