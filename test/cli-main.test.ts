/**
 * The `sdlite` program: a command line naming a command loads that command only (main.ts), and
 * nothing shows it: `--help` still lists every command, a mistyped one is still suggested, and a
 * command run alone works.
 */
import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { describeRun, runSdlite } from "./helpers/sdlite-cli.js";

const EVERY_COMMAND = [
  "generate",
  "tokenize",
  "models",
  "info",
  "serve",
  "bench",
  "upscale",
  "profile",
  "cache",
  "worker",
];

describe("sdlite: commands loaded on demand", () => {
  test("--help lists every command, in order", async () => {
    const run = await runSdlite(["--help"]);
    assert.equal(run.status, 0, describeRun(run));
    const listed = [...run.stdout.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]).filter((c) => c !== "help");
    assert.deepEqual(listed, EVERY_COMMAND);
  });

  test("a mistyped command is still suggested, and one named runs alone", async () => {
    const typo = await runSdlite(["generat", "x"]);
    assert.equal(typo.status, 1, describeRun(typo));
    assert.match(typo.stderr, /unknown command 'generat'/);
    assert.match(typo.stderr, /Did you mean generate\?/);
    const root = join(tmpdir(), "sdlite-cli-main-empty-cache");
    const ls = await runSdlite(["cache", "ls", "--json"], { SDLITE_CACHE: root });
    assert.equal(ls.status, 0, describeRun(ls));
    assert.deepEqual(JSON.parse(ls.stdout), { root, entries: [], temporary: [], bytes: 0 });
  });
});
