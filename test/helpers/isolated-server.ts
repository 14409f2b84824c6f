/**
 * A throw-away HTTP server on 127.0.0.1 for the in-browser engine tests: serves files from folders
 * (the built dist/web, a test bundle) and bytes put in memory by the test, every response with
 * the COOP/COEP headers that make the page cross-origin isolated (onnxruntime-web's threads need
 * SharedArrayBuffer).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".css": "text/css",
  ".map": "application/json",
};

export const ISOLATION_HEADERS = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
} as const;

export interface IsolatedServer {
  readonly origin: string;
  /** Serves `bytes` at `path` (starting with "/") until the server closes. */
  put(path: string, bytes: Uint8Array | string): void;
  close(): Promise<void>;
}

/** `mounts`: URL prefix ("/" or "/x/") → folder. */
export async function startIsolatedServer(mounts: Record<string, string>): Promise<IsolatedServer> {
  const memory = new Map<string, Uint8Array>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const send = (status: number, body: Uint8Array | string, type = "text/plain") => {
      res.writeHead(status, { "Content-Type": type, ...ISOLATION_HEADERS });
      res.end(body);
    };
    const held = memory.get(path);
    if (held) return send(200, held, TYPES[extname(path)] ?? "application/octet-stream");
    for (const [prefix, dir] of Object.entries(mounts).sort((a, b) => b[0].length - a[0].length)) {
      if (!path.startsWith(prefix)) continue;
      const rel = normalize(path.slice(prefix.length) || "index.html");
      if (rel.startsWith("..")) return send(403, "forbidden");
      const file = join(dir, rel);
      if (existsSync(file) && statSync(file).isFile()) {
        return send(200, readFileSync(file), TYPES[extname(file)] ?? "application/octet-stream");
      }
    }
    send(404, "not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    put(path, bytes) {
      memory.set(path, typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
