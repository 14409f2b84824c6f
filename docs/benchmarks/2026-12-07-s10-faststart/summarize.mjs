// Summarizes run-series.sh's files: per run beforeFirstStepMs, the UNet's preload (started / ready)
// and session request (at / wait), the text encoder's creation, the step, process wall / CPU (GNU
// time) and peak RSS; then medians per side. Usage: node summarize.mjs DIR
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
const dir = process.argv[2];
const runs = readdirSync(dir)
  .filter((f) => /^r\d+-(before|after)\.json$/.test(f))
  .map((f) => f.replace(".json", ""));
const field = (text, name) => text.match(new RegExp(`${name}: (.*)`))?.[1].trim();
const seconds = (clock) => clock.split(":").reduce((acc, part) => acc * 60 + Number(part), 0);
const rows = runs.map((tag) => {
  const doc = JSON.parse(readFileSync(join(dir, `${tag}.json`), "utf8"));
  const time = readFileSync(join(dir, `${tag}.time`), "utf8");
  const load = readFileSync(join(dir, `${tag}.load`), "utf8").split("\n").map((l) => Number(l.split(" ")[0]));
  const s = doc.timings.startup;
  const net = (n) => s.sessions.find((x) => x.network === n);
  const pre = s.preloads?.find((p) => p.network === "unet");
  return {
    tag,
    side: tag.replace(/^r\d+-/, ""),
    load: Math.max(...load.filter((x) => !Number.isNaN(x))),
    beforeFirstStepMs: s.beforeFirstStepMs,
    importMs: s.importMs,
    unetStart: pre ? pre.startedAtMs : net("unet").createdAtMs,
    unetReady: pre ? pre.readyAtMs : net("unet").createdAtMs + net("unet").createMs,
    unetTaken: pre ? pre.taken : "-",
    unetAsked: net("unet").createdAtMs,
    teCreate: net("text_encoder").createMs,
    teRun: net("text_encoder").firstRunMs,
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
for (const side of ["before", "after"]) {
  const mine = rows.filter((r) => r.side === side);
  if (!mine.length) continue;
  const m = (k) => median(mine.map((r) => r[k]));
  const all = (k) => mine.map((r) => Math.round(r[k])).join(", ");
  console.log(
    `${side} (${mine.length} runs): beforeFirstStep ${m("beforeFirstStepMs").toFixed(0)} ms (${all("beforeFirstStepMs")}), UNet creation started ${m("unetStart").toFixed(0)} ms, ready ${m("unetReady").toFixed(0)} ms (took ${(m("unetReady") - m("unetStart")).toFixed(0)}), imports ${m("importMs").toFixed(0)} ms, te create ${m("teCreate").toFixed(0)} ms, step ${m("unetStep").toFixed(0)} ms, wall ${m("wallS").toFixed(2)} s, CPU ${m("cpuS").toFixed(2)} s, peak RSS ${m("peakRssGB").toFixed(3)} GB (max ${Math.max(...mine.map((r) => r.peakRssGB)).toFixed(3)}), max load ${Math.max(...mine.map((r) => r.load))}`,
  );
}
