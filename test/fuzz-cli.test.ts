/**
 * Fuzzing the command line: a quick valid call of generate, upscale, tokenize, info, models or
 * serve with one or two of the command's own options (read from its commander definition) set to a
 * value of the wrong type or range, or thrown in without one; the first option walks every
 * (command, option) pair in turn, so a run of as many inputs as there are pairs tries each. Each run is spawned in a sandbox of
 * its own (HOME, caches and models inside it) and must end with exit 0, or exit 1 with one line on
 * stderr that is not a stack trace, within HANG_MS and MEMORY_BOUND_BYTES (the peak resident set
 * of the sdlite process, read from /proc while it runs); serve, when the options happen to be valid, must
 * come up and stop on SIGTERM. Nothing may be written in the sandbox outside the output the
 * command was given and sdlite's caches, and the input files stay as they were.
 * Each input is a process (a second or two), so CI tries few; `npm run fuzz` many.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { after, test } from "node:test";
import { Command, type Option } from "commander";
import fc from "fast-check";
import { registerGenerateCommand } from "../src/cli/commands/generate.js";
import { registerInfoCommand } from "../src/cli/commands/info.js";
import { registerModelsCommand } from "../src/cli/commands/models.js";
import { registerServeCommand } from "../src/cli/commands/serve.js";
import { registerTokenizeCommand } from "../src/cli/commands/tokenize.js";
import { registerUpscaleCommand } from "../src/cli/commands/upscale.js";
import { encodePng } from "../src/image/png.js";
import { fixturePath } from "./helpers/fixtures.js";
import { checkMemory, fuzzParameters, newTally, reportTally } from "./helpers/fuzz.js";
import { claimedSizePng } from "./helpers/hostile-png.js";
import { repoRoot } from "./helpers/sdlite-cli.js";

const HANG_MS = 120_000;
const root = mkdtempSync(join(tmpdir(), "sdlite-fuzz-cli-"));
const tally = newTally();
/** `command --option` pairs the fuzzer set, against all there are: how much of the CLI it reached. */
const optionsTried = new Set<string>();
let optionsTotal = 0;
after(() => {
  rmSync(root, { recursive: true, force: true });
  reportTally("command line, every option", tally, {
    hangBoundMs: HANG_MS,
    optionsTried: optionsTried.size,
    optionsTotal,
  });
});

const TINY = fixturePath("models", "tiny-sd15");
const INPUT_PNG = encodePng(
  { width: 32, height: 32, channels: 3, data: new Uint8Array(32 * 32 * 3).fill(120) },
  { parameters: "a cat\nSteps: 1, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 32x32" },
);

/** The quick valid call of each command; `out` is what it may write (relative to the sandbox). */
const BASE: Record<string, { args: string[]; out?: string }> = {
  generate: {
    args: [
      "generate",
      "a cat",
      "-m",
      TINY,
      "-W",
      "64",
      "-H",
      "64",
      "--steps",
      "1",
      "--threads",
      "1",
      "-o",
      "out",
    ],
    out: "out",
  },
  upscale: { args: ["upscale", "in.png", "-u", "Lanczos", "--scale", "1.5", "-o", "out/up.png"], out: "out" },
  tokenize: { args: ["tokenize", "a cat", "--tokenizer", join(TINY, "tokenizer")] },
  info: { args: ["info", "in.png"] },
  models: { args: ["models", "--models-dir", "models"] },
  serve: { args: ["serve", "-m", TINY, "--port", "0", "--threads", "1"] },
};

function commandOptions(): Map<string, readonly Option[]> {
  const program = new Command();
  for (const register of [
    registerGenerateCommand,
    registerUpscaleCommand,
    registerTokenizeCommand,
    registerInfoCommand,
    registerModelsCommand,
    registerServeCommand,
  ]) {
    register(program);
  }
  return new Map(program.commands.map((c) => [c.name(), c.options]));
}

const WRONG = fc.oneof(
  fc.constantFrom(
    "-1",
    "0",
    "1e309",
    "NaN",
    "abc",
    "",
    " ",
    "99999999999",
    "4096",
    "3.5",
    "-0",
    "0x10",
    "/proc/x",
    "../../etc/passwd",
    "in.png",
    "out",
    "in.png:abc",
    "--steps",
    "🙂",
    "x".repeat(10_000),
    "none",
    "int8",
    "webgpu",
    "cpu,cuda",
    "a:b:c",
  ),
  fc.string({ maxLength: 20 }),
  fc.integer().map(String),
);

/** [option pick, wrong value, give a value to a flag that takes none]; the first edit's option is chosen round-robin. */
const input = fc.array(fc.tuple(fc.nat(), WRONG, fc.boolean()), { minLength: 1, maxLength: 2 });

const OPTIONS = commandOptions();
/** Every command's own options but --help. */
const ownOptions = (command: string) => (OPTIONS.get(command) ?? []).filter((o) => o.long !== "--help");
/**
 * Every (command, option) pair. The first edit of run n sets pair (START + n) so that a long run
 * reaches every option of every command, and CI runs, starting anywhere, reach them all in turn.
 */
const PAIRS = Object.keys(BASE).flatMap((command): [string, Option | undefined][] => {
  const own = ownOptions(command);
  return own.length === 0 ? [[command, undefined]] : own.map((o): [string, Option] => [command, o]);
});
// one seed for fast-check and the start, so that the seed fast-check prints replays both
if (!Number.isInteger(Number(process.env.SDLITE_FUZZ_SEED)) || process.env.SDLITE_FUZZ_SEED === "")
  process.env.SDLITE_FUZZ_SEED = String(Math.floor(Math.random() * 2 ** 31));
const START = Math.abs(Number(process.env.SDLITE_FUZZ_SEED)) % PAIRS.length;

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  ms: number;
  servedAndStopped?: boolean;
  /** The largest VmHWM (peak resident set) read from /proc while it ran, in bytes. */
  peakRss: number;
}

/** The process's peak resident set so far, in bytes (0 once it has gone). */
function peakRssOf(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf-8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function spawnSdlite(args: string[], cwd: string): Promise<Run> {
  const started = performance.now();
  return new Promise((done, reject) => {
    // tsx as a URL: the sandbox, the child's cwd, has no node_modules
    const child = spawn(
      process.execPath,
      ["--import", import.meta.resolve("tsx"), join(repoRoot, "src", "cli", "main.ts"), ...args],
      {
        cwd,
        env: {
          ...process.env,
          HOME: join(cwd, "home"),
          SDLITE_CACHE: join(cwd, "cache"),
          HF_HOME: join(cwd, "hf"),
          SDLITE_MODELS: join(cwd, "models"),
          HF_HUB_OFFLINE: "1",
          HF_TOKEN: "",
          NODE_OPTIONS: "",
        },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    let served = false;
    let peakRss = 0;
    const timer = setTimeout(() => child.kill("SIGKILL"), HANG_MS);
    const memory = setInterval(() => {
      peakRss = Math.max(peakRss, peakRssOf(child.pid!));
    }, 50);
    child.stderr.setEncoding("utf-8").on("data", (d: string) => {
      stderr += d;
      if (!served && /sdlite serving on http/.test(stderr)) {
        served = true;
        child.kill("SIGTERM");
      }
    });
    child.on("error", reject);
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      clearInterval(memory);
      done({ status, signal, stderr, ms: performance.now() - started, servedAndStopped: served, peakRss });
    });
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

test("fuzz CLI options: exit 0, or exit 1 with one line; no hang, nothing written elsewhere", {
  timeout: 3_600_000,
}, async () => {
  optionsTotal = PAIRS.length;
  let n = 0;
  await fc.assert(
    fc.asyncProperty(input, async (edits) => {
      const [command, first] = PAIRS[(START + n) % PAIRS.length];
      const sandbox = join(root, `run-${n++}`);
      mkdirSync(join(sandbox, "models"), { recursive: true });
      writeFileSync(join(sandbox, "in.png"), INPUT_PNG);
      writeFileSync(join(sandbox, "big.png"), claimedSizePng(9000, 9000));
      const args = [...BASE[command].args];
      const own = ownOptions(command);
      const outputs = new Set(BASE[command].out ? [BASE[command].out] : []);
      for (const [i, [pick, value, withValue]] of edits.entries()) {
        if (own.length === 0) {
          args.push(value); // a command without options: an extra argument
          optionsTried.add(`${command} (an extra argument)`);
          continue;
        }
        const option = i === 0 && first ? first : own[pick % own.length];
        const flag = option.long ?? option.short!;
        optionsTried.add(`${command} ${flag}`);
        const takesValue = option.required || option.optional;
        args.push(flag, ...(takesValue || withValue ? [value] : []));
        // generate's -o is a folder; upscale's a file, never overwritten (name-1.png beside it)
        if (flag === "--output" && takesValue)
          outputs.add(command === "upscale" ? dirname(resolve(sandbox, value)) : value);
      }
      tally.inputs++;
      const run = await spawnSdlite(args, sandbox);
      const what = `sdlite ${args.map((a) => JSON.stringify(a.slice(0, 60))).join(" ")}\n${run.stderr.slice(-1500)}`;
      // before the try: counted there as the memory bound, not again as an other failure
      checkMemory(tally, what, run.peakRss);
      try {
        if (run.signal !== null && !(run.servedAndStopped && run.signal === "SIGTERM")) {
          if (run.ms >= HANG_MS) tally.hangs++;
          else tally.crashes++;
          assert.fail(`killed by ${run.signal} after ${run.ms.toFixed(0)} ms: ${what}`);
        }
        if (run.servedAndStopped) {
          assert.equal(run.status, 0, `serve stopped on SIGTERM with ${run.status}: ${what}`);
        } else if (run.status !== 0) {
          assert.equal(run.status, 1, what);
          const lines = run.stderr.trim().split("\n");
          const last = lines.at(-1) ?? "";
          assert.match(last, /^(sdlite|error): /, `last line is the error: ${what}`);
          assert.ok(!/\n\s+at /.test(run.stderr), `no stack trace: ${what}`);
          // progress may come first; the error itself is the one line
          const errorLines = lines.filter((l) => /error|Error|sdlite: /.test(l));
          assert.equal(errorLines.length, 1, `one error line: ${what}`);
        }
        assert.deepEqual(
          readFileSync(join(sandbox, "in.png")),
          Buffer.from(INPUT_PNG),
          "the input is untouched",
        );
        const allowed = [...outputs].map((o) => resolve(sandbox, o));
        for (const file of filesUnder(sandbox)) {
          const path = resolve(sandbox, file);
          const inside = (dir: string) => path === dir || path.startsWith(`${dir}/`);
          const expected =
            ["in.png", "big.png"].includes(file) ||
            allowed.some(inside) ||
            ["cache", "hf", "home/.cache/sdlite"].some((d) => inside(join(sandbox, d)));
          assert.ok(expected, `${file} written outside the output and caches: ${what}`);
        }
      } catch (err) {
        if (!run.signal) tally.otherFailures++;
        throw err;
      } finally {
        rmSync(sandbox, { recursive: true, force: true });
      }
    }),
    fuzzParameters(15),
  );
});
