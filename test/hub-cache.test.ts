/**
 * Settings resolved like huggingface_hub, cache layout helpers, fnmatch patterns, and `sdlite models`
 * run as a real process over a cache filled from the fake hub with the fixture models.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  assertSafeRepoPath,
  isCommitHash,
  repoFolderName,
  repoIdFromFolderName,
} from "../src/hub/cache-layout.js";
import { filterRepoFiles } from "../src/hub/file-patterns.js";
import { resolveHubSettings, sdliteModelsDir } from "../src/hub/hub-settings.js";
import { snapshotDownload } from "../src/hub/snapshot-download.js";
import { FakeHub } from "./helpers/fake-hub.js";
import { fixturePath } from "./helpers/fixtures.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "sdlite-cache-"));
  tempDirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe("hub settings (as huggingface_hub resolves them)", () => {
  const home = "/home/someone";

  test("defaults", () => {
    const s = resolveHubSettings({}, home);
    assert.equal(s.endpoint, "https://huggingface.co");
    assert.equal(s.cacheDir, "/home/someone/.cache/huggingface/hub");
    assert.equal(s.offline, false);
    assert.equal(s.token, undefined);
    assert.equal(s.metadataTimeoutMs, 10_000);
  });

  test("HF_HUB_CACHE beats HF_HOME beats XDG_CACHE_HOME; HF_ENDPOINT loses its trailing slash", () => {
    assert.equal(resolveHubSettings({ XDG_CACHE_HOME: "/xdg" }, home).cacheDir, "/xdg/huggingface/hub");
    assert.equal(resolveHubSettings({ XDG_CACHE_HOME: "/xdg", HF_HOME: "/hf" }, home).cacheDir, "/hf/hub");
    assert.equal(resolveHubSettings({ HF_HOME: "/hf", HF_HUB_CACHE: "/c" }, home).cacheDir, "/c");
    assert.equal(resolveHubSettings({ HF_HOME: "~/hf" }, home).cacheDir, "/home/someone/hf/hub");
    assert.equal(
      resolveHubSettings({ HF_ENDPOINT: "http://127.0.0.1:9/" }, home).endpoint,
      "http://127.0.0.1:9",
    );
  });

  test("HF_HUB_OFFLINE accepts 1/true/yes/on", () => {
    for (const v of ["1", "true", "YES", "on"])
      assert.equal(resolveHubSettings({ HF_HUB_OFFLINE: v }, home).offline, true, v);
    for (const v of ["0", "false", ""])
      assert.equal(resolveHubSettings({ HF_HUB_OFFLINE: v }, home).offline, false, v);
  });

  test("the token comes from HF_TOKEN, else from $HF_HOME/token (what `huggingface-cli login` writes)", () => {
    const hfHome = tempDir();
    writeFileSync(join(hfHome, "token"), "hf_from_file\n");
    assert.equal(resolveHubSettings({ HF_HOME: hfHome }, home).token, "hf_from_file");
    assert.equal(resolveHubSettings({ HF_HOME: hfHome, HF_TOKEN: "hf_env" }, home).token, "hf_env");
    assert.equal(resolveHubSettings({ HF_HOME: tempDir() }, home).token, undefined);
  });

  test("sdlite models folder: SDLITE_MODELS, else XDG_DATA_HOME/sdlite/models, else ~/.local/share/sdlite/models", () => {
    assert.equal(sdliteModelsDir({}, home), "/home/someone/.local/share/sdlite/models");
    assert.equal(sdliteModelsDir({ XDG_DATA_HOME: "/data" }, home), "/data/sdlite/models");
    assert.equal(sdliteModelsDir({ SDLITE_MODELS: "/m", XDG_DATA_HOME: "/data" }, home), "/m");
  });
});

describe("cache layout and patterns", () => {
  test("repo folder names", () => {
    assert.equal(repoFolderName("runwayml/stable-diffusion-v1-5"), "models--runwayml--stable-diffusion-v1-5");
    assert.equal(
      repoIdFromFolderName("models--runwayml--stable-diffusion-v1-5"),
      "runwayml/stable-diffusion-v1-5",
    );
    assert.equal(repoIdFromFolderName("datasets--a--b"), undefined);
    assert.equal(isCommitHash("a".repeat(40)), true);
    assert.equal(isCommitHash("main"), false);
  });

  test("paths that could leave the snapshot folder are refused", () => {
    for (const bad of ["../x", "a/../../x", "/etc/passwd", "a//b", "a\\b", ""]) {
      assert.throws(() => assertSafeRepoPath(bad), /unsafe/, bad);
    }
    assert.doesNotThrow(() => assertSafeRepoPath("unet/diffusion_pytorch_model.safetensors"));
  });

  test("fnmatch patterns: * crosses folders, a trailing / means the folder, ignore wins", () => {
    const paths = ["model_index.json", "unet/config.json", "unet/w.safetensors", "vae/w.bin", "a[1].txt"];
    assert.deepEqual(filterRepoFiles(paths, "*.json"), ["model_index.json", "unet/config.json"]);
    assert.deepEqual(filterRepoFiles(paths, "unet/"), ["unet/config.json", "unet/w.safetensors"]);
    assert.deepEqual(filterRepoFiles(paths, ["*/w.*"], "*.bin"), ["unet/w.safetensors"]);
    assert.deepEqual(filterRepoFiles(paths, "[!mu]*"), ["vae/w.bin", "a[1].txt"]);
    assert.deepEqual(filterRepoFiles(paths, "a[[]1].txt"), ["a[1].txt"]);
    assert.deepEqual(filterRepoFiles(paths, "vae/w.?in"), ["vae/w.bin"]);
    assert.deepEqual(filterRepoFiles(paths), paths);
  });
});

function folderFiles(dir: string): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const full = join(e.parentPath ?? e.path, e.name);
    files[relative(dir, full).split(sep).join("/")] = readFileSync(full);
  }
  return files;
}

/** Bytes the cache should hold for these files: one blob per distinct content. */
function uniqueBytes(files: Record<string, Buffer>): number {
  const seen = new Map<string, number>();
  for (const b of Object.values(files)) seen.set(createHash("sha256").update(b).digest("hex"), b.length);
  return [...seen.values()].reduce((a, b) => a + b, 0);
}

describe("sdlite models", { timeout: 60_000 }, () => {
  let hub: FakeHub;
  let cacheDir: string;
  let modelsDir: string;
  const diffusers = folderFiles(fixturePath("models", "tiny-sd15"));
  const onnx = folderFiles(fixturePath("models", "tiny-sd15-onnx"));
  const single = {
    "tiny-sd15-fp16.safetensors": readFileSync(fixturePath("single_file", "tiny-sd15-fp16.safetensors")),
  };
  const commits: Record<string, string> = {};

  before(async () => {
    hub = await FakeHub.start();
    commits.diffusers = hub.addRepo("sdlite-test/tiny-sd15", diffusers);
    commits.onnx = hub.addRepo("sdlite-test/tiny-sd15-onnx", onnx);
    commits.single = hub.addRepo("sdlite-test/single", single);
    cacheDir = tempDir();
    const settings = { endpoint: hub.endpoint, cacheDir, offline: false, token: undefined };
    for (const repo of ["sdlite-test/tiny-sd15", "sdlite-test/tiny-sd15-onnx", "sdlite-test/single"]) {
      await snapshotDownload(repo, { settings });
    }
    modelsDir = tempDir();
    mkdirSync(join(modelsDir, "sd15"));
    symlinkSync(
      fixturePath("single_file", "tiny-sd15-inpainting-fp16.safetensors"),
      join(modelsDir, "sd15", "inpaint.safetensors"),
    );
    writeFileSync(join(modelsDir, "old.ckpt"), "not really a pickle");
  });
  after(() => hub.close());

  function runModels(...args: string[]): Promise<string> {
    const env = { ...process.env, HF_HUB_CACHE: cacheDir, SDLITE_MODELS: modelsDir, HF_HUB_OFFLINE: "1" };
    return promisify(execFile)(process.execPath, ["--import", "tsx", "src/cli/main.ts", "models", ...args], {
      cwd: repoRoot,
      env,
      timeout: 30_000,
    }).then((r) => r.stdout);
  }

  test("--json lists cached repos (revisions, size on disk, kind) and the models folder", async () => {
    const doc = JSON.parse(await runModels("--json"));
    assert.equal(doc.hubCache, cacheDir);
    assert.equal(doc.modelsDir, modelsDir);
    // biome-ignore lint/suspicious/noExplicitAny: JSON from the CLI
    const byId = new Map<string, any>(doc.repos.map((r: { repo: string }) => [r.repo, r]));
    assert.deepEqual(
      [...byId.keys()],
      ["sdlite-test/single", "sdlite-test/tiny-sd15", "sdlite-test/tiny-sd15-onnx"],
    );

    const expect: Array<[string, Record<string, Buffer>, string, string, boolean]> = [
      ["sdlite-test/tiny-sd15", diffusers, commits.diffusers, "diffusers", true],
      ["sdlite-test/tiny-sd15-onnx", onnx, commits.onnx, "onnx", true],
      ["sdlite-test/single", single, commits.single, "single-file", true],
    ];
    for (const [id, files, commit, format, sd1] of expect) {
      const repo = byId.get(id);
      assert.equal(repo.sizeOnDisk, uniqueBytes(files), `${id} size on disk`);
      assert.equal(repo.incompleteBytes, 0);
      assert.deepEqual(
        repo.revisions.map((r: { commit: string; refs: string[]; files: number }) => [
          r.commit,
          r.refs,
          r.files,
        ]),
        [[commit, ["main"], Object.keys(files).length]],
      );
      assert.equal(repo.looks.format, format, `${id} format`);
      assert.equal(repo.looks.sd1, sd1, `${id} looks like SD1.x`);
    }
    assert.match(byId.get("sdlite-test/tiny-sd15").looks.detail, /StableDiffusionPipeline/);

    assert.deepEqual(
      doc.models.map(
        (m: { name: string; looks: { format: string; sd1: boolean | null; detail: string } }) => [
          m.name,
          m.looks.format,
          m.looks.sd1,
        ],
      ),
      [
        ["old.ckpt", "single-file", null],
        [join("sd15", "inpaint.safetensors"), "single-file", true],
      ],
    );
    assert.match(doc.models[1].looks.detail, /inpainting/);
  });

  test("the table names every repo and model", async () => {
    const text = await runModels();
    for (const needle of [
      "sdlite-test/tiny-sd15-onnx",
      "main",
      "SD1.x ONNX",
      "SD1.x diffusers",
      "inpaint.safetensors",
      modelsDir,
    ]) {
      assert.ok(text.includes(needle), `output should contain "${needle}":\n${text}`);
    }
  });
});
