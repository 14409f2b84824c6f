/**
 * package.json's engines field is true: every installed package (package-lock.json) admits the
 * lowest Node version sdlite says it runs on, and this Node is one sdlite admits. npm installs the
 * project without a warning (no unknown settings in .npmrc, no unreviewed install scripts) and
 * never runs onnxruntime-node's install script, which would download CUDA libraries from NuGet.
 * .ci/run checks that CI itself runs on the lowest supported Node line.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import semver from "semver";
import { repoRoot } from "./helpers/sdlite-cli.js";

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf-8"));
const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf-8"));
const lowest = semver.minVersion(pkg.engines.node);

function npm(args: string[]) {
  return spawnSync("npm", args, { cwd: repoRoot, encoding: "utf-8" });
}

describe("engines", () => {
  it("every locked package admits the lowest supported Node, and this Node is supported", () => {
    assert.ok(lowest, `engines.node "${pkg.engines.node}" has a lowest version`);
    const refusing = Object.entries(lock.packages as Record<string, { engines?: { node?: string } }>)
      .filter(([, p]) => typeof p.engines?.node === "string")
      .filter(([, p]) => !semver.satisfies(lowest, p.engines?.node as string))
      .map(([path, p]) => `${path.replace(/^node_modules\//, "")}: node ${p.engines?.node}`);
    assert.deepEqual(refusing, [], `packages that do not run on Node ${lowest}`);
    assert.equal(lock.packages[""].engines.node, pkg.engines.node, "package-lock.json is current");
    assert.ok(
      semver.satisfies(process.version, pkg.engines.node),
      `Node ${process.version} is not in engines.node "${pkg.engines.node}"`,
    );
  });

  it("npm reads the project's settings without a warning and has every install script reviewed", () => {
    const config = npm(["config", "get", "engine-strict"]);
    assert.equal(config.status, 0, config.stderr);
    assert.equal(
      config.stdout.trim(),
      "true",
      ".npmrc makes an npm or Node outside engines stop the install",
    );
    assert.doesNotMatch(config.stderr, /npm warn/, "no unknown settings in .npmrc");
    assert.ok(
      semver.satisfies(spawnSync("npm", ["--version"], { encoding: "utf-8" }).stdout.trim(), pkg.engines.npm),
      "this npm honours allowScripts",
    );
    // what `npm install-scripts ls` reports, read from the lockfile (an installed tree may be a link)
    const withScripts = Object.entries(lock.packages as Record<string, { hasInstallScript?: boolean }>)
      .filter(([path, p]) => path !== "" && p.hasInstallScript)
      .map(([path]) => path.replace(/^.*node_modules\//, ""));
    assert.deepEqual(
      withScripts.sort(),
      // msgpackr-extract (BullMQ's msgpackr, optional): its prebuilt binaries need no script; denied.
      // protobufjs (onnxruntime-web's): its postinstall only checks its CLI's dependencies; denied.
      // webgpu (dawn.node, the tests' navigator.gpu): its postinstall only clears macOS's quarantine
      // attribute on the shipped binary; denied
      ["esbuild", "msgpackr-extract", "onnxruntime-node", "protobufjs", "webgpu"],
      "the packages with install scripts",
    );
    const unreviewed = withScripts.filter((name) => typeof pkg.allowScripts?.[name] !== "boolean");
    assert.deepEqual(unreviewed, [], "no install script left unreviewed");
    assert.equal(
      pkg.allowScripts["onnxruntime-node"],
      false,
      "onnxruntime-node's download script never runs",
    );
  });
});
