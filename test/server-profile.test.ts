/**
 * The server's view of the last `sdlite profile`: 204 while there is none (the web UI asks on every
 * page load), then the JSON and both SVG charts as written, picked up without a restart; behind
 * the API key like every other route.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { countGraph } from "../src/profile/count-graph.js";
import { lastProfilePaths, writeProfileFiles } from "../src/profile/profile-files.js";
import { buildProfileReport } from "../src/profile/profile-report.js";
import { createServer } from "../src/server/create-server.js";
import { profileSettings } from "./helpers/profile-settings.js";

const dir = mkdtempSync(join(tmpdir(), "sdlite-server-profile-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function tinyReport() {
  const b = new GraphBuilder("relu");
  b.output(b.node("Relu", [b.input("x", "float32", [1, 8])]), "y", "float32");
  const count = countGraph(b, { x: [1, 8] });
  const plan = {
    id: "unet",
    graph: "unet",
    stage: "unet" as const,
    build: () => b,
    inputs: { x: [1, 8] },
    callsPerImage: 4,
  };
  return buildProfileReport({
    model: "relu",
    optionsLabel: "",
    settings: profileSettings({ width: 64, height: 64, steps: 4 }),
    plans: [plan],
    counts: new Map([["unet", count]]),
    hardware: [],
  });
}

describe("GET /sdlite/v1/profile", () => {
  it("answers 204 without a profile, then serves the JSON and SVG charts written after start", async () => {
    const profileDir = join(dir, "profile");
    const app = await createServer({ hubCacheDir: false, webDir: false, modelsDir: dir, profileDir });
    try {
      assert.equal((await app.inject({ url: "/sdlite/v1/profile" })).statusCode, 204);
      const missing = await app.inject({ url: "/sdlite/v1/profile/roofline.svg" });
      assert.equal(missing.statusCode, 404);
      assert.match(missing.json().detail, /no profile yet: run `sdlite profile`/);

      const report = tinyReport();
      writeProfileFiles(report, lastProfilePaths(profileDir));
      const json = await app.inject({ url: "/sdlite/v1/profile" });
      assert.equal(json.statusCode, 200);
      assert.match(String(json.headers["content-type"]), /^application\/json/);
      assert.equal(json.json().stages[0].calls, 4);
      assert.equal(json.json().createdAt, report.createdAt);
      for (const chart of ["stages", "roofline"]) {
        const svg = await app.inject({ url: `/sdlite/v1/profile/${chart}.svg` });
        assert.equal(svg.statusCode, 200);
        assert.match(String(svg.headers["content-type"]), /^image\/svg\+xml/);
        assert.match(svg.body, /^<svg /);
      }
    } finally {
      await app.close();
    }
  });

  it("needs the API key when the server has one", async () => {
    const app = await createServer({
      hubCacheDir: false,
      webDir: false,
      modelsDir: dir,
      profileDir: dir,
      apiKey: "k",
    });
    try {
      assert.equal((await app.inject({ url: "/sdlite/v1/profile" })).statusCode, 401);
      const keyed = await app.inject({ url: "/sdlite/v1/profile", headers: { "x-api-key": "k" } });
      assert.equal(keyed.statusCode, 204);
    } finally {
      await app.close();
    }
  });
});
