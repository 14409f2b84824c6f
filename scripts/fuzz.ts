/**
 * `npm run fuzz`: the fuzzing suites and the soak test with many more inputs than `npm test` gives
 * them (SDLITE_FUZZ_SCALE times each suite's CI count, 10 unless set; or SDLITE_FUZZ_RUNS inputs
 * per property; the soak at 500 sequential and 50 concurrent jobs), then a table of what each
 * target tried and what went wrong, with the machine it ran on, for docs/reliability.md.
 *
 *   npm run fuzz                       # everything, about half an hour on 2 busy cores
 *   npm run fuzz -- fuzz-server soak   # some suites (file names under test/, without .test.ts)
 *   SDLITE_FUZZ_SEED=123 npm run fuzz -- fuzz-cli   # replay a failure fast-check printed
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";

const SUITES = [
  "fuzz-prompts",
  "fuzz-images",
  "fuzz-weights",
  "safetensors-fuzz",
  "fuzz-server",
  "fuzz-cli",
  "soak",
];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((s) => !SUITES.includes(s));
if (unknown.length > 0) {
  console.error(`fuzz: unknown suite ${unknown.join(", ")}; the suites are ${SUITES.join(", ")}`);
  process.exit(1);
}
const suites = wanted.length > 0 ? wanted : SUITES;
const work = mkdtempSync(join(tmpdir(), "sdlite-fuzz-"));
const report = join(work, "report.jsonl");
const env: NodeJS.ProcessEnv = {
  ...process.env,
  SDLITE_FUZZ_SCALE: process.env.SDLITE_FUZZ_SCALE ?? "10",
  SDLITE_SOAK_SEQUENTIAL: process.env.SDLITE_SOAK_SEQUENTIAL ?? "500",
  SDLITE_SOAK_CONCURRENT: process.env.SDLITE_SOAK_CONCURRENT ?? "50",
  SDLITE_FUZZ_REPORT: report,
};

const machine = `${availableParallelism()} CPUs (${cpus()[0]?.model ?? "unknown"}), load average at start ${loadavg()
  .map((l) => l.toFixed(2))
  .join(" ")}`;
console.log(
  `fuzz: ${suites.join(", ")}; scale ${env.SDLITE_FUZZ_SCALE}${env.SDLITE_FUZZ_RUNS ? `, ${env.SDLITE_FUZZ_RUNS} runs per property` : ""}; ${machine}`,
);
const seconds: Record<string, number> = {};
let failed = false;
for (const suite of suites) {
  const started = performance.now();
  const run = spawnSync(
    process.execPath,
    ["--import", "tsx", "--test", "--test-concurrency=1", join("test", `${suite}.test.ts`)],
    { env, stdio: "inherit" },
  );
  seconds[suite] = Math.round((performance.now() - started) / 1000);
  if (run.status !== 0) failed = true;
}

const lines = existsSync(report)
  ? readFileSync(report, "utf-8")
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, number | string | undefined>)
  : [];
rmSync(work, { recursive: true, force: true });

console.log(
  `\n${machine}; load average at the end ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
console.log(
  `suite times: ${Object.entries(seconds)
    .map(([s, t]) => `${s} ${t} s`)
    .join(", ")}\n`,
);
console.log("| Target | Inputs | Crashes | Hangs (bound) | 5xx | Other failures | Peak RSS (bound) |");
console.log("|---|---:|---:|---:|---:|---:|---:|");
for (const l of lines) {
  const hangs = l.hangBoundMs === undefined ? `${l.hangs}` : `${l.hangs} (${Number(l.hangBoundMs) / 1000} s)`;
  const rss =
    l.memoryBoundMiB === undefined ? `${l.peakRssMiB} MiB` : `${l.peakRssMiB} MiB (${l.memoryBoundMiB} MiB)`;
  console.log(
    `| ${l.target} | ${l.inputs} | ${l.crashes} | ${hangs} | ${l.serverErrors} | ${l.otherFailures} | ${rss} |`,
  );
}
for (const l of lines) {
  const {
    target,
    inputs: _i,
    crashes: _c,
    hangs: _h,
    serverErrors: _s,
    otherFailures: _o,
    peakRssMiB: _p,
    hangBoundMs: _b,
    memoryBoundMiB: _m,
    ...rest
  } = l;
  if (Object.keys(rest).length > 0) console.log(`${target}: ${JSON.stringify(rest)}`);
}
process.exit(failed ? 1 : 0);
