/**
 * sdlite is private and offline: a run writes nothing outside its own cache, its output folder and
 * (when it downloads) the Hugging Face cache. HOME, the temporary folder and the working folder are
 * fresh, XDG variables unset (so every default lies under HOME), ORT_DISABLE_TELEMETRY unset (so
 * sdlite's own switch is what keeps onnxruntime's telemetry folder, ~/.cache/Microsoft, away);
 * then every file under them is listed.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { after, before, describe, test } from "node:test";
import { FakeHub } from "./helpers/fake-hub.js";
import { fixturePath } from "./helpers/fixtures.js";
import { folderFiles } from "./helpers/folder-files.js";
import { describeRun, runSdlite } from "./helpers/sdlite-cli.js";

const REPO = "sdlite-test/tiny";
const sandbox = mkdtempSync(join(tmpdir(), "sdlite-private-run-"));
let hub: FakeHub;

before(async () => {
  hub = await FakeHub.start();
  hub.addRepo(REPO, folderFiles(fixturePath("models", "tiny-sd15")));
});

after(async () => {
  await hub.close();
  rmSync(sandbox, { recursive: true, force: true });
});

/** Every file and empty folder under `dir`, as sandbox-relative paths with "/". */
function everything(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isDirectory() && readdirSync(path).length > 0) continue;
    found.push(relative(sandbox, path).split(sep).join("/"));
  }
  return found.sort();
}

describe("what a run leaves on disk", () => {
  test("generate (with a download) and a second, cached run write only to sdlite's cache, the output folder and the Hugging Face cache", async () => {
    const [home, tmp, cwd] = ["home", "tmp", "cwd"].map((d) => join(sandbox, d));
    for (const d of [home, tmp, cwd]) mkdirSync(d);
    const env = {
      HOME: home,
      TMPDIR: tmp,
      // tsx (the test's TypeScript loader, not part of sdlite) would cache compiled files in TMPDIR
      TSX_DISABLE_CACHE: "1",
      HF_ENDPOINT: hub.endpoint,
      HF_HUB_OFFLINE: "",
      HF_TOKEN: "",
      ...Object.fromEntries(
        [
          "XDG_CACHE_HOME",
          "XDG_DATA_HOME",
          "XDG_CONFIG_HOME",
          "XDG_STATE_HOME",
          "SDLITE_CACHE",
          "SDLITE_MODELS",
          "HF_HOME",
          "HF_HUB_CACHE",
          "HF_TOKEN_PATH",
          "ORT_DISABLE_TELEMETRY",
        ].map((name) => [name, undefined]),
      ),
    };
    const args = ["generate", "a red cube", "-m", REPO, "--steps", "2", "-W", "64", "-H", "64"];
    for (const seed of ["1", "2"]) {
      const run = await runSdlite([...args, "--seed", seed, "--threads", "1", "-o", "../out"], env, { cwd });
      assert.equal(run.status, 0, describeRun(run));
    }

    const allowed = [/^home\/\.cache\/sdlite\//, /^home\/\.cache\/huggingface\/hub\//, /^out\//];
    const files = everything(sandbox);
    const made = ["home", "tmp", "cwd"]; // by the test: listed when empty
    const stray = files.filter((f) => !made.includes(f) && !allowed.some((a) => a.test(f)));
    assert.deepEqual(stray, [], `written outside sdlite's folders:\n${stray.join("\n")}`);
    // the run did write where it should (so the listing above could have caught something)
    assert.equal(files.filter((f) => f.startsWith("out/") && f.endsWith(".png")).length, 2);
    assert.ok(files.some((f) => f.startsWith("home/.cache/sdlite/graphs/")));
    assert.ok(files.some((f) => f.startsWith("home/.cache/huggingface/hub/models--sdlite-test--tiny/")));
  });
});
