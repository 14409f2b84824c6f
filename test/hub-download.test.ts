/**
 * Hub downloads against a fake hub on 127.0.0.1 (test/helpers/fake-hub.ts): cache layout,
 * cache-first behaviour, resume with Range, integrity checks, errors, offline mode, progress.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { abortableChunks } from "../src/hub/abortable-body.js";
import { repoFolderName } from "../src/hub/cache-layout.js";
import { type DownloadProgress, downloadFile } from "../src/hub/download-file.js";
import { HubError } from "../src/hub/hub-error.js";
import type { HubSettings } from "../src/hub/hub-settings.js";
import { downloadSd15Pipeline } from "../src/hub/sd15-download.js";
import { snapshotDownload } from "../src/hub/snapshot-download.js";
import { FakeHub } from "./helpers/fake-hub.js";

/** Deterministic pseudo-random bytes (LCG), so contents differ from file to file. */
function bytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const gitSha1 = (b: Buffer) => createHash("sha1").update(`blob ${b.length}\0`).update(b).digest("hex");

const REPO = "sdlite-test/tiny-sd";
const UNET = "unet/diffusion_pytorch_model.safetensors";
const FILES: Record<string, Buffer> = {
  "model_index.json": Buffer.from('{"_class_name": "StableDiffusionPipeline"}'),
  "unet/config.json": Buffer.from('{"cross_attention_dim": 768}'),
  [UNET]: bytes(300_000, 1),
  "text_encoder/model.safetensors": bytes(120_000, 2),
  "README.md": Buffer.from("# tiny\n"),
};
const TOTAL = Object.values(FILES).reduce((a, b) => a + b.length, 0);

let hub: FakeHub;
let commit: string;
const tempDirs: string[] = [];

function freshCache(): string {
  const dir = mkdtempSync(join(tmpdir(), "sdlite-hub-"));
  tempDirs.push(dir);
  return dir;
}

function settings(cacheDir: string, extra: Partial<HubSettings> = {}): Partial<HubSettings> {
  return {
    endpoint: hub.endpoint,
    cacheDir,
    offline: false,
    token: undefined,
    metadataTimeoutMs: 5000,
    downloadStallTimeoutMs: 5000,
    ...extra,
  };
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  ...mentions: string[]
): Promise<HubError> {
  const err = await promise.then(
    () => assert.fail(`expected a HubError "${code}", but the call succeeded`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof HubError, `expected a HubError "${code}", got ${String(err)}`);
  assert.equal(err.code, code, `error code for: ${err.message}`);
  for (const m of mentions)
    assert.ok(err.message.includes(m), `message should mention "${m}": ${err.message}`);
  return err;
}

before(async () => {
  hub = await FakeHub.start();
  commit = hub.addRepo(REPO, FILES);
});

after(async () => {
  await hub.close();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe("hub downloads", { timeout: 30_000 }, () => {
  test("a fresh snapshot lands in the HF cache layout: blobs, relative snapshot symlinks, refs/main", async () => {
    const cacheDir = freshCache();
    const snap = await snapshotDownload(REPO, { settings: settings(cacheDir) });
    const root = join(cacheDir, repoFolderName(REPO));
    assert.equal(root, join(cacheDir, "models--sdlite-test--tiny-sd"));
    assert.equal(snap.commit, commit);
    assert.equal(snap.dir, join(root, "snapshots", commit));
    assert.equal(snap.fromCache, false);
    assert.deepEqual([...snap.files].sort(), Object.keys(FILES).sort());
    assert.equal(readFileSync(join(root, "refs", "main"), "utf-8"), commit);
    for (const [path, content] of Object.entries(FILES)) {
      const pointer = join(snap.dir, path);
      assert.ok(lstatSync(pointer).isSymbolicLink(), `${path} should be a symlink`);
      const link = readlinkSync(pointer);
      assert.ok(!link.startsWith("/"), `${path} links with a relative path, got ${link}`);
      // LFS files are named by their sha256, git files by their git blob sha1 (the hub's ETags).
      const etag = path.endsWith(".safetensors") ? sha256(content) : gitSha1(content);
      assert.equal(resolve(dirname(pointer), link), join(root, "blobs", etag), `${path} blob`);
      assert.ok(readFileSync(pointer).equals(content), `${path} content`);
    }
    assert.deepEqual(
      readdirSync(join(root, "blobs")).filter((f) => f.endsWith(".incomplete")),
      [],
      "no .incomplete left behind",
    );
  });

  test("allowPatterns pick files with fnmatch semantics", async () => {
    const snap = await snapshotDownload(REPO, {
      settings: settings(freshCache()),
      allowPatterns: ["*.json"],
    });
    assert.deepEqual([...snap.files].sort(), ["model_index.json", "unet/config.json"]);
    assert.ok(!existsSync(join(snap.dir, UNET)));
  });

  test("files already in the cache are reused without any request", async () => {
    const cacheDir = freshCache();
    await snapshotDownload(REPO, { settings: settings(cacheDir) });
    hub.resetLog();
    const again = await snapshotDownload(REPO, { settings: settings(cacheDir) });
    const one = await downloadFile(REPO, UNET, { settings: settings(cacheDir) });
    const byCommit = await downloadFile(REPO, "README.md", {
      settings: settings(cacheDir),
      revision: commit,
    });
    assert.deepEqual(hub.requests, [], "second calls must not touch the network");
    assert.equal(again.fromCache, true);
    assert.equal(one.fromCache, true);
    assert.equal(byCommit.path, join(again.dir, "README.md"));
  });

  test("an interrupted download keeps .incomplete and resumes it with a Range request", async () => {
    const cacheDir = freshCache();
    const blob = join(cacheDir, repoFolderName(REPO), "blobs", sha256(FILES[UNET]));
    hub.cutNext(UNET, 70_000);
    const err = await rejectsWith(
      downloadFile(REPO, UNET, { settings: settings(cacheDir), maxRetries: 0 }),
      "network",
      "interrupted at",
      UNET,
    );
    // The server sent 70000 bytes before dropping the connection; the client may have lost the
    // tail of what was still queued in the stream when it broke, never more.
    const kept = statSync(`${blob}.incomplete`).size;
    assert.ok(kept > 0 && kept <= 70_000, `.incomplete holds the bytes received (${kept})`);
    assert.ok(err.message.includes(`interrupted at ${kept} of 300000 bytes`), err.message);
    assert.ok(!existsSync(blob), "no blob until the download is complete");

    hub.resetLog();
    const done = await downloadFile(REPO, UNET, { settings: settings(cacheDir), maxRetries: 0 });
    const gets = hub.requests.filter((r) => r.method === "GET");
    assert.deepEqual(
      gets.map((r) => [r.server, r.range]),
      [["cdn", `bytes=${kept}-`]],
    );
    assert.ok(readFileSync(done.path).equals(FILES[UNET]), "resumed file has the right bytes");
    assert.ok(!existsSync(`${blob}.incomplete`));
  });

  test("within one call, a cut connection is resumed automatically", async () => {
    const cacheDir = freshCache();
    hub.cutNext(UNET, 50_000);
    hub.cutNext(UNET, 60_000);
    hub.resetLog();
    const done = await downloadFile(REPO, UNET, { settings: settings(cacheDir) });
    const ranges = hub.requests.filter((r) => r.method === "GET").map((r) => r.range);
    assert.equal(ranges.length, 3, `one GET and two resumes: ${ranges}`);
    assert.equal(ranges[0], undefined);
    const starts = ranges.slice(1).map((r) => Number(/^bytes=(\d+)-$/.exec(r ?? "")?.[1]));
    assert.ok(starts[0] > 0 && starts[0] <= 50_000, `first resume starts within the first cut: ${ranges[1]}`);
    assert.ok(
      starts[1] > starts[0] && starts[1] <= starts[0] + 60_000,
      `second resume goes on: ${ranges[2]}`,
    );
    assert.ok(readFileSync(done.path).equals(FILES[UNET]));
  });

  test("a server that ignores Range restarts the file and still ends with the right bytes", async () => {
    const cacheDir = freshCache();
    hub.cutNext(UNET, 40_000);
    hub.ignoreRange = true;
    const seen: number[] = [];
    try {
      const done = await downloadFile(REPO, UNET, {
        settings: settings(cacheDir),
        onProgress: (p) => seen.push(p.fileBytes),
      });
      assert.ok(readFileSync(done.path).equals(FILES[UNET]));
    } finally {
      hub.ignoreRange = false;
    }
    for (let i = 1; i < seen.length; i++)
      assert.ok(seen[i] > seen[i - 1], `progress went back at ${i}: ${seen}`);
    assert.equal(seen.at(-1), FILES[UNET].length);
  });

  test("a corrupted download is rejected, deleted and never placed in the cache", async () => {
    const cacheDir = freshCache();
    const blobs = join(cacheDir, repoFolderName(REPO), "blobs");
    hub.corrupt(UNET);
    try {
      await rejectsWith(
        downloadFile(REPO, UNET, { settings: settings(cacheDir) }),
        "integrity",
        "sha256",
        UNET,
      );
    } finally {
      hub.corrupt(UNET, false);
    }
    assert.deepEqual(readdirSync(blobs), [], "neither a blob nor an .incomplete file is left");
    assert.ok(
      !existsSync(join(cacheDir, repoFolderName(REPO), "snapshots", commit, UNET)),
      "no snapshot link",
    );
    const ok = await downloadFile(REPO, UNET, { settings: settings(cacheDir) });
    assert.ok(readFileSync(ok.path).equals(FILES[UNET]), "a clean retry succeeds");
  });

  test("401 without a token says which repo and to set HF_TOKEN; the token never reaches the CDN", async () => {
    hub.requireToken("hf_secret");
    try {
      await rejectsWith(
        downloadFile(REPO, UNET, { settings: settings(freshCache()) }),
        "unauthorized",
        REPO,
        "HF_TOKEN",
      );
      await rejectsWith(
        snapshotDownload(REPO, { settings: settings(freshCache(), { token: "hf_wrong" }) }),
        "unauthorized",
        REPO,
        "HF_TOKEN",
      );
      hub.resetLog();
      const ok = await downloadFile(REPO, UNET, { settings: settings(freshCache(), { token: "hf_secret" }) });
      assert.ok(readFileSync(ok.path).equals(FILES[UNET]));
      const hubAuth = hub.requests.filter((r) => r.server === "hub").map((r) => r.authorization);
      const cdnAuth = hub.requests.filter((r) => r.server === "cdn").map((r) => r.authorization);
      assert.deepEqual(hubAuth, ["Bearer hf_secret"]);
      assert.deepEqual(cdnAuth, [undefined], "Authorization must not follow the redirect to another origin");
    } finally {
      hub.requireToken(undefined);
    }
  });

  test("a gated repo: 401 without a token, 403 with one that lacks access, both mention HF_TOKEN", async () => {
    const gated = "sdlite-test/gated";
    hub.addRepo(gated, { "model_index.json": "{}" }, { gated: true });
    const e401 = await rejectsWith(
      downloadFile(gated, "model_index.json", { settings: settings(freshCache()) }),
      "gated",
      gated,
      "HF_TOKEN",
    );
    assert.equal(e401.status, 401);
    const e403 = await rejectsWith(
      downloadFile(gated, "model_index.json", { settings: settings(freshCache(), { token: "hf_other" }) }),
      "gated",
      gated,
      "HF_TOKEN",
    );
    assert.equal(e403.status, 403);
  });

  test("404s name what was not found: the file, the repo, the revision", async () => {
    await rejectsWith(
      downloadFile(REPO, "unet/nope.safetensors", { settings: settings(freshCache()) }),
      "entry-not-found",
      "unet/nope.safetensors",
      REPO,
    );
    await rejectsWith(
      snapshotDownload("sdlite-test/missing", { settings: settings(freshCache(), { token: "hf_any" }) }),
      "repo-not-found",
      "sdlite-test/missing",
    );
    // Anonymous: the hub cannot say whether a repo is missing or private.
    await rejectsWith(
      downloadFile("sdlite-test/missing", "model_index.json", { settings: settings(freshCache()) }),
      "unauthorized",
      "sdlite-test/missing",
      "not found",
    );
    await rejectsWith(
      snapshotDownload(REPO, { settings: settings(freshCache()), revision: "v9" }),
      "revision-not-found",
      '"v9"',
      REPO,
    );
  });

  test("offline mode serves the cache without requests and fails clearly when a file is not cached", async () => {
    const cacheDir = freshCache();
    await snapshotDownload(REPO, { settings: settings(cacheDir), allowPatterns: "*.json" });
    hub.resetLog();
    const offline = settings(cacheDir, { offline: true });
    const cached = await downloadFile(REPO, "model_index.json", { settings: offline });
    assert.ok(readFileSync(cached.path).equals(FILES["model_index.json"]));
    const snap = await snapshotDownload(REPO, { settings: offline, allowPatterns: "*.json" });
    assert.equal(snap.files.length, 2);
    await rejectsWith(
      downloadFile(REPO, UNET, { settings: offline }),
      "offline-not-cached",
      "HF_HUB_OFFLINE",
      UNET,
    );
    await rejectsWith(
      snapshotDownload(REPO, { settings: offline }),
      "offline-not-cached",
      "HF_HUB_OFFLINE",
      REPO,
    );
    await rejectsWith(
      downloadFile(REPO, "model_index.json", { settings: settings(freshCache(), { offline: true }) }),
      "offline-not-cached",
      "HF_HUB_OFFLINE",
    );
    assert.deepEqual(hub.requests, [], "offline mode never touches the network");
  });

  test("progress is monotonic per file and overall, and reaches the total", async () => {
    const events: DownloadProgress[] = [];
    hub.cutNext("text_encoder/model.safetensors", 30_000); // a resume must not make progress go back
    await snapshotDownload(REPO, {
      settings: settings(freshCache()),
      onProgress: (p) => events.push({ ...p }),
    });
    assert.ok(events.length > 0);
    for (let i = 1; i < events.length; i++) {
      assert.ok(events[i].bytes >= events[i - 1].bytes, `overall bytes went back at event ${i}`);
      assert.equal(events[i].total, TOTAL, `total changed at event ${i}`);
    }
    const last = events.at(-1)!;
    assert.equal(last.bytes, TOTAL, "overall progress reaches the total");
    for (const [path, content] of Object.entries(FILES)) {
      const mine = events.filter((e) => e.file === path);
      for (let i = 1; i < mine.length; i++)
        assert.ok(mine[i].fileBytes >= mine[i - 1].fileBytes, `${path} went back`);
      assert.equal(mine.at(-1)?.fileBytes, content.length, `${path} reaches its size`);
      assert.ok(
        mine.every((e) => e.fileTotal === content.length),
        `${path} total`,
      );
    }
  });

  test("concurrent downloads of one file fetch it once and both get the right bytes", async () => {
    const cacheDir = freshCache();
    hub.resetLog();
    const [a, b] = await Promise.all([
      downloadFile(REPO, UNET, { settings: settings(cacheDir) }),
      downloadFile(REPO, UNET, { settings: settings(cacheDir) }),
    ]);
    assert.equal(a.path, b.path);
    assert.ok(readFileSync(a.path).equals(FILES[UNET]));
    const gets = hub.requests.filter((r) => r.method === "GET");
    assert.equal(gets.length, 1, `expected one GET of the blob, got ${gets.length}`);
  });

  test("an aborted download keeps its .incomplete file for a later resume", async () => {
    const cacheDir = freshCache();
    const controller = new AbortController();
    const err = await downloadFile(REPO, UNET, {
      settings: settings(cacheDir),
      signal: controller.signal,
      onProgress: (p) => {
        if (p.fileBytes > 0) controller.abort(new Error("user cancelled"));
      },
    }).catch((e: unknown) => e);
    assert.equal((err as Error).message, "user cancelled");
    const incomplete = join(cacheDir, repoFolderName(REPO), "blobs", `${sha256(FILES[UNET])}.incomplete`);
    assert.ok(existsSync(incomplete) && statSync(incomplete).size > 0, "partial bytes kept");
    const done = await downloadFile(REPO, UNET, { settings: settings(cacheDir) });
    assert.ok(readFileSync(done.path).equals(FILES[UNET]));
  });

  test("refresh follows a branch that moved; without it the cached commit is used", async () => {
    const repo = "sdlite-test/moving";
    const first = hub.addRepo(repo, { "model_index.json": "v1" });
    const cacheDir = freshCache();
    await downloadFile(repo, "model_index.json", { settings: settings(cacheDir) });
    const second = hub.addRepo(repo, { "model_index.json": "v2" });
    const stale = await downloadFile(repo, "model_index.json", { settings: settings(cacheDir) });
    assert.equal(stale.commit, first);
    assert.equal(readFileSync(stale.path, "utf-8"), "v1");
    const fresh = await downloadFile(repo, "model_index.json", {
      settings: settings(cacheDir),
      refresh: true,
    });
    assert.equal(fresh.commit, second);
    assert.equal(readFileSync(fresh.path, "utf-8"), "v2");
    assert.equal(readFileSync(join(cacheDir, repoFolderName(repo), "refs", "main"), "utf-8"), second);
  });

  test("downloadSd15Pipeline fetches only what the SD1.5 selection picks (fp16 variant here)", async () => {
    const repo = "sdlite-test/variants";
    hub.addRepo(repo, {
      "model_index.json": "{}",
      "unet/config.json": "{}",
      "unet/diffusion_pytorch_model.safetensors": bytes(1000, 3),
      "unet/diffusion_pytorch_model.fp16.safetensors": bytes(500, 4),
      "unet/diffusion_pytorch_model.bin": bytes(1000, 5),
      "safety_checker/model.safetensors": bytes(800, 6),
      "v1-5-pruned.ckpt": bytes(2000, 7),
    });
    hub.resetLog();
    const snap = await downloadSd15Pipeline(repo, { settings: settings(freshCache()), fp16: true });
    assert.deepEqual([...snap.files].sort(), [
      "model_index.json",
      "unet/config.json",
      "unet/diffusion_pytorch_model.fp16.safetensors",
    ]);
    assert.deepEqual(snap.componentsWithoutWeights, []);
    const fetched = hub.requests
      .filter((r) => r.method === "HEAD")
      .map((r) => decodeURIComponent(r.url.split("/resolve/")[1].split("/").slice(1).join("/")));
    assert.deepEqual(fetched.sort(), [...snap.files].sort(), "no request for files that were not selected");
  });

  test("progress reaches the total when two paths share one blob", async () => {
    const repo = "sdlite-test/shared-blob";
    const same = bytes(5000, 8);
    hub.addRepo(repo, {
      "tokenizer/vocab.json": same,
      "tokenizer_2/vocab.json": same,
      "model_index.json": "{}",
    });
    const events: DownloadProgress[] = [];
    const snap = await snapshotDownload(repo, {
      settings: settings(freshCache()),
      maxConcurrency: 1,
      onProgress: (p) => events.push({ ...p }),
    });
    assert.equal(snap.files.length, 3);
    assert.equal(events.at(-1)?.bytes, 10_002, "5000 + 5000 + 2 bytes");
    assert.equal(events.at(-1)?.total, 10_002);
  });

  test("a connection that goes silent is given up after the stall timeout and resumed", async () => {
    const cacheDir = freshCache();
    hub.stallNext(UNET, 20_000);
    hub.resetLog();
    const started = Date.now();
    const done = await downloadFile(REPO, UNET, {
      settings: settings(cacheDir, { downloadStallTimeoutMs: 300 }),
    });
    const elapsed = Date.now() - started;
    assert.ok(readFileSync(done.path).equals(FILES[UNET]));
    const ranges = hub.requests.filter((r) => r.method === "GET").map((r) => r.range);
    assert.equal(ranges.length, 2, `a GET and one resume: ${ranges}`);
    assert.match(ranges[1] ?? "", /^bytes=\d+-$/);
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
  });

  test("a corrupted file among parallel downloads rejects, stops the others and leaves no file open (20 runs)", async () => {
    // Sizes that made the old code lose the sibling downloads (undici left their bodies pending)
    // in about half of the runs: a small corrupted file that fails while 512 KiB siblings finish.
    const repo = "sdlite-test/parallel";
    const bad = "bad/model.safetensors";
    const files: Record<string, Buffer> = { [bad]: bytes(16_384, 7) };
    for (let i = 0; i < 7; i++) files[`part${i}/model.safetensors`] = bytes(524_288, 100 + i);
    hub.addRepo(repo, files);
    hub.corrupt(bad);
    // Counted where requests start (the server's log may still see one sent just before the abort).
    const realFetch = globalThis.fetch;
    let fetches = 0;
    globalThis.fetch = (...args) => {
      fetches++;
      return realFetch(...args);
    };
    try {
      for (let run = 0; run < 20; run++) {
        const cacheDir = freshCache();
        const download = snapshotDownload(repo, { settings: settings(cacheDir), maxConcurrency: 4 });
        const err = await rejectsWith(settlesWithin(download, 5000, `run ${run}`), "integrity", bad);
        assert.match(err.message, /sha256 [0-9a-f]{64} does not match/);
        const fetchesAtRejection = fetches;
        assert.deepEqual(openFilesUnder(cacheDir), [], `run ${run}: file handles left open`);
        const locks = join(cacheDir, ".locks", repoFolderName(repo));
        assert.deepEqual(
          existsSync(locks) ? readdirSync(locks) : [],
          [],
          `run ${run}: download locks still held`,
        );
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(fetches, fetchesAtRejection, `run ${run}: requests started after the rejection`);
        // Nothing in the cache is corrupt: finished blobs are exact, unfinished ones a true prefix.
        const blobs = join(cacheDir, repoFolderName(repo), "blobs");
        for (const name of readdirSync(blobs).filter((n) => !n.endsWith(".lock"))) {
          const sha = name.replace(/\.incomplete$/, "");
          const content = Object.values(files).find((b) => sha256(b) === sha);
          assert.ok(content && sha !== sha256(files[bad]), `run ${run}: unexpected blob ${name}`);
          const kept = readFileSync(join(blobs, name));
          const expected = name.endsWith(".incomplete") ? content.subarray(0, kept.length) : content;
          assert.ok(kept.equals(expected), `run ${run}: ${name} holds other bytes`);
        }
      }
    } finally {
      globalThis.fetch = realFetch;
      hub.corrupt(bad, false);
    }
  });
});

/** Rejects with a clear message when `promise` has not settled after `ms` (a lost await would hang the test). */
async function settlesWithin<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: the download had not settled after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Paths under `dir` this process holds open (Linux /proc; elsewhere there is nothing to list). */
function openFilesUnder(dir: string): string[] {
  const fds = "/proc/self/fd";
  if (!existsSync(fds)) return [];
  const open: string[] = [];
  for (const fd of readdirSync(fds)) {
    try {
      const target = readlinkSync(join(fds, fd));
      if (target.startsWith(dir)) open.push(target);
    } catch {
      // the fd of readdirSync itself is gone by now
    }
  }
  return open;
}

describe("abortableChunks (a fetch body read that an abort always settles)", () => {
  /** A body in the state undici can leave one in: some bytes queued, then neither close nor error. */
  function pendingBody(onCancel: (reason: unknown) => void): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array([1, 2, 3]));
      },
      cancel: onCancel,
    });
  }

  test("an abort while waiting on a stream that never ends rejects with the reason and cancels it", async () => {
    const controller = new AbortController();
    let cancelled: unknown = "not cancelled";
    const got: number[] = [];
    const reason = new Error("another file failed");
    const reading = (async () => {
      for await (const chunk of abortableChunks(
        pendingBody((r) => (cancelled = r)),
        controller.signal,
      )) {
        got.push(...chunk);
        setTimeout(() => controller.abort(reason), 10);
      }
    })();
    await assert.rejects(settlesWithin(reading, 2000, "pending body"), (err) => err === reason);
    assert.deepEqual(got, [1, 2, 3], "the queued bytes came through first");
    assert.equal(cancelled, reason, "the stream was cancelled with the abort reason");
  });

  test("a signal aborted before the first read rejects at once", async () => {
    const reason = new Error("aborted early");
    const chunks = abortableChunks(
      pendingBody(() => {}),
      AbortSignal.abort(reason),
    );
    await assert.rejects(settlesWithin(chunks.next(), 2000, "aborted signal"), (err) => err === reason);
  });

  test("a body that ends normally yields every chunk and ends", async () => {
    const body = new Response(new Uint8Array([4, 5, 6, 7])).body as ReadableStream<Uint8Array>;
    const got: number[] = [];
    for await (const chunk of abortableChunks(body, new AbortController().signal)) got.push(...chunk);
    assert.deepEqual(got, [4, 5, 6, 7]);
  });

  test("leaving the loop early cancels the body", async () => {
    let cancelled = false;
    const body = pendingBody(() => {
      cancelled = true;
    });
    for await (const _ of abortableChunks(body, new AbortController().signal)) break;
    assert.ok(cancelled, "the stream was cancelled");
  });
});
