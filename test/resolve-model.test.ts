/**
 * `-m MODEL` resolution: paths are used as they are, repo ids go to the (fake) hub, no `-m` means
 * the default model with its own settings, and a model sdlite cannot run is refused after
 * fetching only its configs.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  DEFAULT_MODEL_DEFAULTS,
  DEFAULT_MODEL_REPO,
  defaultsForFolder,
  GENERIC_DEFAULTS,
  GUIDANCE_EMBEDDING_DEFAULTS,
  parseRepoSpec,
  resolveModel,
} from "../src/cli/resolve-model.js";
import { HubError } from "../src/hub/hub-error.js";
import type { HubSettings } from "../src/hub/hub-settings.js";
import { ModelLoadError } from "../src/weights/model-load-error.js";
import { FakeHub } from "./helpers/fake-hub.js";
import { fixturePath } from "./helpers/fixtures.js";
import { folderFiles } from "./helpers/folder-files.js";

const TINY = fixturePath("models", "tiny-sd15");
let hub: FakeHub;
const tempDirs: string[] = [];
let tinyCommit: string;

before(async () => {
  hub = await FakeHub.start();
  const tiny = folderFiles(TINY);
  tinyCommit = hub.addRepo("sdlite-test/tiny", tiny);
  hub.addRepo(DEFAULT_MODEL_REPO, tiny);
  // what SimianLuo/LCM_Dreamshaper_v7 looks like: the LCM pipeline class, a UNet with a guidance embedding
  const unetConfig = JSON.parse(tiny["unet/config.json"].toString());
  hub.addRepo("sdlite-test/lcm-with-guidance-embedding", {
    ...tiny,
    "model_index.json": JSON.stringify({
      ...JSON.parse(tiny["model_index.json"].toString()),
      _class_name: "LatentConsistencyModelPipeline",
    }),
    "unet/config.json": JSON.stringify({ ...unetConfig, time_cond_proj_dim: 256 }),
  });
  hub.addRepo("sdlite-test/unet-with-guidance-embedding", {
    ...tiny,
    "unet/config.json": JSON.stringify({ ...unetConfig, time_cond_proj_dim: 256 }),
  });
  hub.addRepo("sdlite-test/single-file-only", {
    "tiny.safetensors": tiny["unet/diffusion_pytorch_model.safetensors"],
    "README.md": "# a checkpoint",
  });
});

after(async () => {
  await hub.close();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function hubSettings(): Partial<HubSettings> {
  const cacheDir = mkdtempSync(join(tmpdir(), "sdlite-resolve-"));
  tempDirs.push(cacheDir);
  return {
    endpoint: hub.endpoint,
    cacheDir,
    offline: false,
    token: undefined,
    metadataTimeoutMs: 5000,
    downloadStallTimeoutMs: 5000,
  };
}

describe("parseRepoSpec tells repo ids from paths", () => {
  test("repo ids, with and without a revision", () => {
    assert.deepEqual(parseRepoSpec("Lykon/dreamshaper-8-lcm"), { repo: "Lykon/dreamshaper-8-lcm" });
    assert.deepEqual(parseRepoSpec("org/name.v1_2@fp16-branch"), {
      repo: "org/name.v1_2",
      revision: "fp16-branch",
    });
  });
  test("things that can only be paths are never sent to the hub", () => {
    for (const spec of [
      "./org/name",
      "../models/tiny",
      "/abs/model",
      "~/model",
      "C:\\models\\x",
      "org/model.safetensors",
      "a/b/c",
      "model",
      "org--x/name",
    ]) {
      assert.equal(parseRepoSpec(spec), undefined, spec);
    }
  });
});

describe("resolveModel", () => {
  test("an existing folder or file is used as it is, with the generic settings", async () => {
    hub.resetLog();
    const settings = hubSettings();
    const folder = await resolveModel(TINY, { hubSettings: settings });
    assert.deepEqual(folder, {
      path: TINY,
      name: "tiny-sd15",
      variant: undefined,
      defaults: GENERIC_DEFAULTS,
    });
    const single = fixturePath("single_file", "tiny-sd15-fp16.safetensors");
    const file = await resolveModel(single, { hubSettings: settings });
    assert.equal(file.path, single);
    assert.equal(file.name, "tiny-sd15-fp16");
    assert.deepEqual(GENERIC_DEFAULTS, { sampler: "Euler a", steps: 20, cfg: 7.5, width: 512, height: 512 });
    assert.equal(hub.requests.length, 0, "no hub request for a path");
  });

  test("a missing path fails as a missing file without asking the hub", async () => {
    hub.resetLog();
    for (const spec of ["./no/such-model", "missing.safetensors", "justaname"]) {
      await assert.rejects(
        resolveModel(spec, { hubSettings: hubSettings() }),
        (err: unknown) =>
          err instanceof ModelLoadError &&
          err.reason === "missing-file" &&
          err.message === `${spec}: no such file or folder`,
        spec,
      );
    }
    assert.equal(hub.requests.length, 0);
  });

  test("a repo id that is neither here nor on the hub says both", async () => {
    await assert.rejects(
      resolveModel("sdlite-test/no-such-repo", { hubSettings: hubSettings() }),
      (err: unknown) => {
        assert.ok(err instanceof HubError, String(err));
        assert.match(
          err.message,
          /^"sdlite-test\/no-such-repo" is not a file or folder here, so it was looked up on the Hugging Face hub: sdlite-test\/no-such-repo: not found/,
        );
        return true;
      },
    );
  });

  test("a repo id downloads the pipeline into the cache; the second time nothing is requested", async () => {
    const settings = hubSettings();
    hub.resetLog();
    const seen: string[] = [];
    const first = await resolveModel("sdlite-test/tiny", {
      hubSettings: settings,
      onDownloadProgress: (p) => seen.push(p.file),
    });
    assert.equal(first.path, join(settings.cacheDir!, "models--sdlite-test--tiny", "snapshots", tinyCommit));
    assert.equal(first.name, "sdlite-test/tiny");
    assert.equal(first.repo, "sdlite-test/tiny");
    assert.deepEqual(first.defaults, GENERIC_DEFAULTS);
    assert.equal(first.fromCache, false);
    assert.ok(seen.includes("unet/diffusion_pytorch_model.safetensors"), "progress names the files");
    assert.ok(hub.requests.length > 0);

    hub.resetLog();
    const second = await resolveModel("sdlite-test/tiny", { hubSettings: settings });
    assert.equal(second.path, first.path);
    assert.equal(second.fromCache, true);
    assert.deepEqual(hub.requests, [], "a cached snapshot makes no request");
  });

  test("org/name@revision downloads that revision", async () => {
    const commit = hub.addRepo("sdlite-test/tiny", folderFiles(TINY), { branch: "v2" });
    const resolved = await resolveModel("sdlite-test/tiny@v2", { hubSettings: hubSettings() });
    assert.ok(resolved.path.endsWith(join("snapshots", commit)), resolved.path);
  });

  test("no -m: the default LCM model with its recommended settings, fp16 preferred", async () => {
    const lookups: string[] = [];
    const resolved = await resolveModel(undefined, {
      hubSettings: hubSettings(),
      onHubLookup: (repo) => lookups.push(repo),
    });
    assert.equal(DEFAULT_MODEL_REPO, "Lykon/dreamshaper-8-lcm");
    assert.deepEqual(lookups, [DEFAULT_MODEL_REPO]);
    assert.equal(resolved.name, DEFAULT_MODEL_REPO);
    assert.equal(resolved.variant, "fp16");
    assert.deepEqual(resolved.defaults, DEFAULT_MODEL_DEFAULTS);
    assert.deepEqual(DEFAULT_MODEL_DEFAULTS, { sampler: "LCM", steps: 4, cfg: 1, width: 512, height: 512 });
  });

  test("an LCM pipeline with a guidance embedding (LCM_Dreamshaper_v7's layout) is downloaded and gets LCM settings (4 steps, CFG 8)", async () => {
    for (const repo of [
      "sdlite-test/lcm-with-guidance-embedding",
      "sdlite-test/unet-with-guidance-embedding",
    ]) {
      const resolved = await resolveModel(repo, { hubSettings: hubSettings() });
      assert.equal(resolved.repo, repo);
      assert.deepEqual(resolved.defaults, GUIDANCE_EMBEDDING_DEFAULTS);
    }
  });

  test("a repo that is not a diffusers pipeline is refused with what to do instead", async () => {
    hub.resetLog();
    await assert.rejects(
      resolveModel("sdlite-test/single-file-only", { hubSettings: hubSettings() }),
      (err: unknown) => {
        assert.ok(err instanceof ModelLoadError, String(err));
        assert.match(err.message, /no model_index\.json.*pass that file with -m/);
        return true;
      },
    );
    assert.ok(!hub.requests.some((r) => r.server === "cdn"), "the checkpoint was not downloaded");
  });
});

describe("model defaults follow the model", () => {
  test("a folder whose UNet embeds the guidance scale gets LCM, 4 steps, CFG 8; a plain one A1111's settings", () => {
    const dir = mkdtempSync(join(tmpdir(), "sdlite-lcm-defaults-"));
    try {
      mkdirSync(join(dir, "unet"));
      writeFileSync(join(dir, "unet", "config.json"), JSON.stringify({ time_cond_proj_dim: 256 }));
      assert.deepEqual(defaultsForFolder(dir, GENERIC_DEFAULTS), GUIDANCE_EMBEDDING_DEFAULTS);
      assert.deepEqual(
        defaultsForFolder(fixturePath("models/tiny-sd15"), GENERIC_DEFAULTS),
        GENERIC_DEFAULTS,
      );
      assert.deepEqual(defaultsForFolder(fixturePath("single_file"), GENERIC_DEFAULTS), GENERIC_DEFAULTS);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
