import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  candidatePath,
  nextSequenceNumber,
  numberedFileName,
  writeFileNoOverwrite,
  writeNumberedFile,
} from "../src/image/output-path.js";

const root = mkdtempSync(join(tmpdir(), "sdlite-out-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("sequence numbers continue after the largest numbered file, as A1111 does", () => {
  assert.equal(nextSequenceNumber([]), 0);
  assert.equal(
    nextSequenceNumber(["00000-1.png", "00012-42.png", "00003-7.png", "notes.txt", "12abc.png"]),
    13,
  );
  assert.equal(nextSequenceNumber(["00004.png"]), 5);
  assert.equal(numberedFileName(7, "1234"), "00007-1234.png");
  assert.equal(numberedFileName(123456, ""), "123456.png");
  assert.equal(candidatePath(join("out", "cat.png"), 0), join("out", "cat.png"));
  assert.equal(candidatePath(join("out", "cat.png"), 2), join("out", "cat-2.png"));
});

test("writeNumberedFile creates the folder and never reuses a name, even when writes race", async () => {
  const dir = join(root, "numbered", "deeper");
  const first = await writeNumberedFile(dir, "42", Uint8Array.of(1));
  assert.equal(first, join(dir, "00000-42.png"));
  // 20 concurrent writers all read the same directory listing, then race for names with `wx`
  const paths = await Promise.all(
    Array.from({ length: 20 }, (_, i) => writeNumberedFile(dir, String(i), Uint8Array.of(i))),
  );
  assert.equal(new Set(paths).size, 20, "every writer got its own file");
  assert.equal(readdirSync(dir).length, 21);
  for (const [i, p] of paths.entries()) assert.deepEqual([...readFileSync(p)], [i], `${p} holds writer ${i}`);
});

test("writeFileNoOverwrite keeps existing files and picks name-N.ext", async () => {
  const wanted = join(root, "cat.png");
  writeFileSync(wanted, "original");
  const a = await writeFileNoOverwrite(wanted, Uint8Array.of(1));
  const b = await writeFileNoOverwrite(wanted, Uint8Array.of(2));
  assert.equal(a, join(root, "cat-1.png"));
  assert.equal(b, join(root, "cat-2.png"));
  assert.equal(readFileSync(wanted, "utf-8"), "original");
  await assert.rejects(writeFileNoOverwrite(join(root, "missing-dir", "x.png"), Uint8Array.of(0)), /ENOENT/);
});
