/**
 * The last profile `sdlite profile` wrote (in the sdlite cache folder), for the web UI:
 *
 *   GET /sdlite/v1/profile               the report as JSON · 204 (no body) when none was made yet
 *   GET /sdlite/v1/profile/stages.svg    its per-stage bar chart
 *   GET /sdlite/v1/profile/roofline.svg  its roofline chart
 *
 * Read from disk on every request: a profile made while the server runs shows up without a restart.
 */
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { lastProfilePaths } from "../../profile/profile-files.js";
import { HttpError } from "../http-error.js";

const tags = ["sdlite profile"];
const CHARTS = { "stages.svg": "stages", "roofline.svg": "roofline" } as const;

/** The file's text, or undefined when there is no profile. */
function readProfileFile(path: string): string | undefined {
  try {
    return readFileSync(path, "utf-8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

const NONE = "no profile yet: run `sdlite profile` on this machine";

/** `dir`: where the last profile lives (default: the sdlite cache folder's profile/). */
export function sdliteProfileRoutes(app: FastifyInstance, dir?: string): void {
  const paths = lastProfilePaths(dir);
  app.get(
    "/sdlite/v1/profile",
    { schema: { tags, summary: "The last profile (per-stage FLOPs, bytes, times) as JSON" } },
    async (_request, reply) => {
      const json = readProfileFile(paths.json);
      // no profile is an ordinary state, not an error: the web UI asks on every page load
      return json === undefined ? reply.code(204).send() : reply.type("application/json").send(json);
    },
  );
  for (const [file, key] of Object.entries(CHARTS)) {
    app.get(
      `/sdlite/v1/profile/${file}`,
      { schema: { tags, summary: `The last profile's ${key} chart (SVG)` } },
      async (_request, reply) => {
        const svg = readProfileFile(paths[key]);
        if (svg === undefined) throw new HttpError(404, NONE, "NotFound");
        return reply.type("image/svg+xml").header("cache-control", "no-cache").send(svg);
      },
    );
  }
}
