/**
 * Runs the `sdlite` CLI as a child process (through tsx, from the sources), with pipes for
 * stdout/stderr (so it sees no terminal) and an environment that keeps it off the real hub and
 * away from the user's caches unless a test says otherwise.
 */
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Sends `signal` to the CLI the first time its stderr (or `stream`) matches `pattern` (e.g. Ctrl-C mid-run). */
  signalWhen?: { pattern: RegExp; signal: NodeJS.Signals; stream?: "stdout" | "stderr" };
  /** The working folder (default: the repository). */
  cwd?: string;
}

// resolved here, so the CLI also starts from a working folder outside the repository
const TSX_LOADER = import.meta.resolve("tsx");

/** Asynchronous, so an in-process server (the fake hub) keeps answering while the CLI runs. */
export function runSdlite(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  options: RunOptions = {},
): Promise<CliRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", TSX_LOADER, join(repoRoot, "src", "cli", "main.ts"), ...args],
      {
        cwd: options.cwd ?? repoRoot,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    let signalled = false;
    const watch = (stream: "stdout" | "stderr", text: string) => {
      const when = options.signalWhen;
      if (when && !signalled && (when.stream ?? "stderr") === stream && when.pattern.test(text)) {
        signalled = true;
        child.kill(when.signal);
      }
    };
    child.stdout.setEncoding("utf-8").on("data", (d: string) => {
      stdout += d;
      watch("stdout", stdout);
    });
    child.stderr.setEncoding("utf-8").on("data", (d: string) => {
      stderr += d;
      watch("stderr", stderr);
    });
    child.on("error", reject);
    child.on("close", (status) => resolvePromise({ status, stdout, stderr }));
  });
}

/** "exit 1, stderr: …" for assertion messages. */
export function describeRun(run: CliRun): string {
  return `exit ${run.status}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}
