/**
 * The browser UI (built into dist/web by the web package) served at `/`, a short placeholder
 * page when it has not been built, and the unauthenticated health check.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";

import { HEALTH_PATH } from "../auth.js";
import type { QueueHealth } from "../server-queue.js";

/** dist/web below the package root; src/server/routes (tsx) and dist/src/server/routes sit at different depths. */
export function defaultWebDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf-8")) as { name?: string }).name === "sdlite") {
          return join(dir, "dist", "web");
        }
      } catch {
        // not ours: keep climbing
      }
    }
    dir = dirname(dir);
  }
  return undefined;
}

const PLACEHOLDER = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sdlite</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}</style></head>
<body><h1>sdlite is running</h1>
<p>The web UI has not been built (<code>dist/web</code> is missing). The API is here:</p>
<ul><li><a href="docs">API documentation</a> (OpenAPI: <a href="openapi.json">openapi.json</a>)</li>
<li>AUTOMATIC1111-compatible endpoints under <code>/sdapi/v1/</code></li>
<li>sdlite's job API under <code>/sdlite/v1/jobs</code></li></ul></body></html>
`;

/**
 * The UI's files are sent cross-origin isolated: the in-tab engine's onnxruntime-web needs
 * SharedArrayBuffer for its wasm threads. Everything the page loads is same-origin (no CDN), so
 * require-corp blocks nothing it uses.
 */
export const CROSS_ORIGIN_ISOLATION = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
} as const;

export async function webUiRoutes(
  app: FastifyInstance,
  webDir: string | undefined,
  health: () => QueueHealth = () => ({ available: true }),
): Promise<void> {
  app.get(
    HEALTH_PATH,
    {
      schema: {
        tags: ["sdlite"],
        summary: "Liveness check (no authentication): 503 with a message while the job queue is unavailable",
      },
    },
    async (_request, reply) => {
      const h = health();
      if (h.available) return { status: "ok" };
      return reply
        .code(503)
        .send({ status: "unavailable", message: h.message ?? "the job queue is unavailable" });
    },
  );

  if (webDir && existsSync(join(webDir, "index.html"))) {
    await app.register(fastifyStatic, {
      root: webDir,
      prefix: "/",
      index: "index.html",
      setHeaders: (reply) => {
        reply.headers(CROSS_ORIGIN_ISOLATION);
      },
    });
  } else {
    app.get("/", { schema: { hide: true } }, async (_request, reply) =>
      reply.type("text/html").send(PLACEHOLDER),
    );
  }
}
