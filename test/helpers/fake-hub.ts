/**
 * A small stand-in for the Hugging Face hub on 127.0.0.1, implementing what src/hub/ uses:
 *   HEAD/GET /{org}/{name}/resolve/{revision}/{path}  (ETag, X-Repo-Commit, X-Linked-Etag/-Size;
 *                                                       LFS files redirect to the "CDN")
 *   GET /api/models/{org}/{name}/revision/{revision}[?blobs=true]  (sha + siblings)
 * The CDN is a second server on another port (another origin, so it must not receive the token),
 * serving LFS objects by sha256 with Range support. Errors carry X-Error-Code like the real hub.
 * Knobs: cut a response after N bytes (or stall it, also at a given offset of the file), serve
 * corrupted bytes, ignore Range, require a token, gate a repo. Both servers answer with CORS headers
 * (as huggingface.co does), so a page on another origin can download from them.
 * Every request is logged so tests can assert on what went over the wire.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface LoggedRequest {
  server: "hub" | "cdn";
  method: string;
  url: string;
  range?: string;
  authorization?: string;
}

interface StoredFile {
  content: Buffer;
  lfs: boolean;
  gitSha1: string;
  sha256: string;
}

interface FakeRepo {
  branches: Map<string, string>;
  commits: Map<string, Map<string, StoredFile>>;
  gated: boolean;
}

export interface AddRepoOptions {
  branch?: string;
  /** Which paths are LFS files (default: weights, as a typical .gitattributes says). */
  lfs?: (path: string) => boolean;
  /** Gated repo: needs the hub's token (see requireToken) even when the hub is otherwise public. */
  gated?: boolean;
}

const DEFAULT_LFS = (path: string) => /\.(safetensors|bin|ckpt|onnx|pb|msgpack)$/.test(path);

function gitBlobSha1(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

export class FakeHub {
  readonly requests: LoggedRequest[] = [];
  private readonly repos = new Map<string, FakeRepo>();
  private readonly cuts: Array<{ path: string; afterBytes: number; stall: boolean }> = [];
  private readonly stallsAt: Array<{ path: string; offset: number }> = [];
  private readonly corrupted = new Set<string>();
  private token: string | undefined;
  /** When set, GETs answer 200 with the whole file even if a Range was asked for. */
  ignoreRange = false;
  private commitCounter = 0;

  private constructor(
    private readonly hubServer: Server,
    private readonly cdnServer: Server,
  ) {}

  static async start(): Promise<FakeHub> {
    const hub = new FakeHub(createServer(), createServer());
    hub.hubServer.on("request", (req, res) => hub.handle("hub", req, res));
    hub.cdnServer.on("request", (req, res) => hub.handle("cdn", req, res));
    await Promise.all(
      [hub.hubServer, hub.cdnServer].map((s) => new Promise<void>((r) => s.listen(0, "127.0.0.1", r))),
    );
    return hub;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.hubServer.address() as AddressInfo).port}`;
  }

  get cdnOrigin(): string {
    return `http://127.0.0.1:${(this.cdnServer.address() as AddressInfo).port}`;
  }

  /** Publishes a commit with these files on a branch (default main); returns its 40-hex hash. */
  addRepo(repo: string, files: Record<string, Buffer | string>, options: AddRepoOptions = {}): string {
    const isLfs = options.lfs ?? DEFAULT_LFS;
    const stored = new Map<string, StoredFile>();
    for (const [path, data] of Object.entries(files)) {
      const content = Buffer.isBuffer(data) ? data : Buffer.from(data);
      stored.set(path, {
        content,
        lfs: isLfs(path),
        gitSha1: gitBlobSha1(content),
        sha256: createHash("sha256").update(content).digest("hex"),
      });
    }
    const commit = createHash("sha1")
      .update(`${repo}#${this.commitCounter++}`)
      .digest("hex");
    const entry = this.repos.get(repo) ?? { branches: new Map(), commits: new Map(), gated: false };
    entry.commits.set(commit, stored);
    entry.branches.set(options.branch ?? "main", commit);
    entry.gated = options.gated ?? entry.gated;
    this.repos.set(repo, entry);
    return commit;
  }

  /** The next GET of `path` (any repo) sends `afterBytes` bytes of its body, then the connection drops. */
  cutNext(path: string, afterBytes: number): void {
    this.cuts.push({ path, afterBytes, stall: false });
  }

  /** The next GET of `path` sends `afterBytes` bytes, then goes silent with the connection open. */
  stallNext(path: string, afterBytes: number): void {
    this.cuts.push({ path, afterBytes, stall: true });
  }

  /**
   * The first GET of `path` whose body covers byte `offset` of the file sends the bytes before it,
   * then goes silent with the connection open (whatever Range it asked for).
   */
  stallAt(path: string, offset: number): void {
    this.stallsAt.push({ path, offset });
  }

  /** GETs of `path` serve the right length with one byte flipped (HEAD still announces the true sha256). */
  corrupt(path: string, on = true): void {
    if (on) this.corrupted.add(path);
    else this.corrupted.delete(path);
  }

  /** Every repo becomes private: requests need `Authorization: Bearer <token>`. */
  requireToken(token: string | undefined): void {
    this.token = token;
  }

  resetLog(): void {
    this.requests.length = 0;
  }

  async close(): Promise<void> {
    for (const server of [this.hubServer, this.cdnServer]) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  }

  private handle(server: "hub" | "cdn", req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    this.requests.push({
      server,
      method: req.method ?? "",
      url: url.pathname + url.search,
      range: req.headers.range,
      authorization: req.headers.authorization,
    });
    res.setHeader("Access-Control-Allow-Origin", "*");
    res.setHeader(
      "Access-Control-Expose-Headers",
      "Content-Range, Content-Length, Accept-Ranges, ETag, X-Repo-Commit, X-Linked-Etag, X-Linked-Size, X-Error-Code, X-Error-Message",
    );
    if (req.method === "OPTIONS") {
      res.writeHead(204, {
        "Access-Control-Allow-Methods": "GET, HEAD",
        "Access-Control-Allow-Headers": "Range, Authorization, Content-Type",
        "Access-Control-Max-Age": "600",
      });
      res.end();
      return;
    }
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (server === "cdn") {
      this.serveCdn(url, req, res);
    } else if (api) {
      this.serveListing(api[1], decodeURIComponent(api[2]), url.searchParams.has("blobs"), req, res);
    } else if (resolve) {
      const path = resolve[3].split("/").map(decodeURIComponent).join("/");
      this.serveResolve(resolve[1], decodeURIComponent(resolve[2]), path, req, res);
    } else {
      this.fail(res, 404, "NotFound", "no such route");
    }
  }

  private fail(res: ServerResponse, status: number, code: string, message: string, extra = {}): void {
    res.writeHead(status, { "X-Error-Code": code, "X-Error-Message": message, ...extra });
    res.end(JSON.stringify({ error: message }));
  }

  /** Auth, repo and revision checks shared by the API and resolve routes; undefined when it answered. */
  private findCommit(repoId: string, revision: string, req: IncomingMessage, res: ServerResponse) {
    const auth = req.headers.authorization;
    const tokenOk = this.token !== undefined && auth === `Bearer ${this.token}`;
    const repo = this.repos.get(repoId);
    if (repo?.gated && !tokenOk) {
      this.fail(res, auth ? 403 : 401, "GatedRepo", `Access to model ${repoId} is restricted.`);
      return undefined;
    }
    if (this.token !== undefined && !tokenOk) {
      this.fail(
        res,
        401,
        "RepoNotFound",
        auth ? "Invalid credentials in Authorization header" : "Repository not found",
      );
      return undefined;
    }
    if (!repo) {
      // Like the real hub: anonymous requests for unknown repos get 401 (private and missing look the same).
      this.fail(res, auth ? 404 : 401, "RepoNotFound", "Repository not found");
      return undefined;
    }
    const commit = repo.branches.get(revision) ?? (repo.commits.has(revision) ? revision : undefined);
    if (!commit) {
      this.fail(res, 404, "RevisionNotFound", `Invalid rev id: ${revision}`);
      return undefined;
    }
    return { commit, files: repo.commits.get(commit)! };
  }

  private serveListing(
    repoId: string,
    revision: string,
    blobs: boolean,
    req: IncomingMessage,
    res: ServerResponse,
  ) {
    const found = this.findCommit(repoId, revision, req, res);
    if (!found) return;
    const siblings = [...found.files].map(([path, f]) =>
      blobs
        ? {
            rfilename: path,
            blobId: f.gitSha1,
            size: f.content.length,
            ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.content.length, pointerSize: 134 } } : {}),
          }
        : { rfilename: path },
    );
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ id: repoId, modelId: repoId, sha: found.commit, siblings }));
  }

  private serveResolve(
    repoId: string,
    revision: string,
    path: string,
    req: IncomingMessage,
    res: ServerResponse,
  ) {
    const found = this.findCommit(repoId, revision, req, res);
    if (!found) return;
    const file = found.files.get(path);
    if (!file) {
      this.fail(res, 404, "EntryNotFound", `${path} does not exist on "${revision}"`, {
        "X-Repo-Commit": found.commit,
      });
      return;
    }
    if (file.lfs) {
      res.writeHead(302, {
        Location: `${this.cdnOrigin}/cdn/${file.sha256}?name=${encodeURIComponent(path)}`,
        "X-Repo-Commit": found.commit,
        "X-Linked-Etag": `"${file.sha256}"`,
        "X-Linked-Size": String(file.content.length),
        ETag: `"${createHash("sha1").update(`pointer ${file.sha256}`).digest("hex")}"`,
        "Content-Length": "0",
      });
      res.end();
      return;
    }
    this.serveBytes(path, file, req, res, { ETag: `"${file.gitSha1}"`, "X-Repo-Commit": found.commit });
  }

  private serveCdn(url: URL, req: IncomingMessage, res: ServerResponse): void {
    const sha = url.pathname.replace(/^\/cdn\//, "");
    for (const repo of this.repos.values()) {
      for (const files of repo.commits.values()) {
        for (const [path, file] of files) {
          if (file.lfs && file.sha256 === sha) {
            this.serveBytes(path, file, req, res, { ETag: `"${sha}"` });
            return;
          }
        }
      }
    }
    res.writeHead(404);
    res.end();
  }

  private serveBytes(
    path: string,
    file: StoredFile,
    req: IncomingMessage,
    res: ServerResponse,
    headers: Record<string, string>,
  ): void {
    let body = file.content;
    if (this.corrupted.has(path) && body.length > 0) {
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0xff;
    }
    const size = body.length;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    let status = 200;
    let start = 0;
    if (range && !this.ignoreRange) {
      start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size) {
        res.writeHead(416, { "Content-Range": `bytes */${size}` });
        res.end();
        return;
      }
      status = 206;
      headers = { ...headers, "Content-Range": `bytes ${start}-${end}/${size}` };
      body = body.subarray(start, end + 1);
    }
    res.writeHead(status, { ...headers, "Content-Length": String(body.length), "Accept-Ranges": "bytes" });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const stall = this.stallsAt.findIndex(
      (c) => c.path === path && c.offset >= start && c.offset < start + body.length,
    );
    if (stall >= 0) {
      const { offset } = this.stallsAt.splice(stall, 1)[0];
      res.write(body.subarray(0, offset - start));
      return;
    }
    const cut = this.cuts.findIndex((c) => c.path === path);
    if (cut >= 0) {
      const { afterBytes, stall } = this.cuts.splice(cut, 1)[0];
      res.write(body.subarray(0, afterBytes), () => {
        if (!stall) res.socket?.destroy();
      });
      return;
    }
    res.end(body);
  }
}
