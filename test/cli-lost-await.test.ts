/**
 * The CLI's backstop for lost awaits (src/cli/lost-await-guard.ts), in child processes since it
 * acts when a process is about to exit: a command pending on a read nothing will ever settle
 * fails with status 1 and says so; a command that finished, or failed on its own, is left alone.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { LOST_AWAIT_MESSAGE } from "../src/cli/lost-await-guard.js";
import { repoRoot } from "./helpers/sdlite-cli.js";

const GUARD = pathToFileURL(join(repoRoot, "src", "cli", "lost-await-guard.ts")).href;

/** Runs `body` (an expression giving the command's promise) under the guard in a fresh process. */
function runGuarded(body: string) {
  const script = `
    import { failIfExitingUnsettled } from ${JSON.stringify(GUARD)};
    const command = ${body};
    failIfExitingUnsettled(command);
    command.catch((err) => { process.stderr.write("failed: " + err.message + "\\n"); process.exitCode = 1; });
  `;
  const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: repoRoot,
    encoding: "utf-8",
    timeout: 20_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr.replace(/^npm warn.*\n/gm, "") };
}

describe("a command whose await is lost does not exit as a success", () => {
  test("pending on a stream read that never settles: status 1 and the internal-error line", () => {
    // What undici's fetch body did: a read that neither resolves nor rejects, and no handle left.
    const run = runGuarded(
      "(async () => { await new ReadableStream().getReader().read(); console.log('done'); })()",
    );
    assert.equal(run.status, 1, `exit status; stderr:\n${run.stderr}`);
    assert.equal(run.stdout, "", "the command never got past its await");
    assert.equal(run.stderr.trimEnd(), LOST_AWAIT_MESSAGE);
  });

  test("a command that finishes after timers and I/O exits 0 without a word", () => {
    const run = runGuarded(
      "(async () => { await new Promise((r) => setTimeout(r, 50)); await import('node:fs/promises').then((fs) => fs.stat('.')); console.log('done'); })()",
    );
    assert.equal(run.status, 0, `exit status; stderr:\n${run.stderr}`);
    assert.equal(run.stdout, "done\n");
    assert.equal(run.stderr, "");
  });

  test("a command that fails keeps its own error and status, without the internal-error line", () => {
    const run = runGuarded(
      "(async () => { await new Promise((r) => setTimeout(r, 10)); throw new Error('no such model'); })()",
    );
    assert.equal(run.status, 1);
    assert.equal(run.stderr, "failed: no such model\n");
  });
});
