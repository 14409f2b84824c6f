import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { fixturePath } from "./helpers/fixtures.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const golden = JSON.parse(readFileSync(fixturePath("tokenizer_golden.json"), "utf-8")) as {
  tokenizer_dir: string;
  cases: { prompt: string; input_ids: number[] }[];
};
const tokenizerDir = fixturePath(golden.tokenizer_dir);

function sdlite(...args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", join(repoRoot, "src", "cli", "main.ts"), ...args], {
    cwd: repoRoot,
    encoding: "utf-8",
  });
}

for (const prompt of ["a photo of a cat", "café naïve résumé Ångström façade", "一只猫在屋顶上"]) {
  test(`sdlite tokenize ${JSON.stringify(prompt)} prints the golden ids`, () => {
    const expected = golden.cases.find((c) => c.prompt === prompt)!.input_ids;
    const run = sdlite("tokenize", prompt, "--tokenizer", tokenizerDir);
    assert.equal(run.status, 0, `exit code ${run.status}, stderr: ${run.stderr}`);
    const lines = run.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 1, `expected one line, got ${lines.length}`);
    assert.deepEqual(JSON.parse(lines[0]), expected);
  });
}

test("sdlite tokenize with a missing tokenizer folder fails clearly", () => {
  const run = sdlite("tokenize", "a cat", "--tokenizer", "/nonexistent/tokenizer");
  assert.notEqual(run.status, 0);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /tokenizer folder not found: \/nonexistent\/tokenizer/);
});
