/**
 * sdlite's version, read once from its package.json: the one place it is written down. The file
 * sits one folder above src/ under tsx and two above dist/src/ once compiled, so it is looked up
 * by walking up from here to the first package.json named "sdlite".
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function readPackageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf-8")) as { name?: string; version?: string };
      if (pkg.name === "sdlite" && typeof pkg.version === "string") return pkg.version;
    }
    dir = dirname(dir);
  }
  throw new Error("sdlite's package.json is missing from this installation");
}

/** "0.1.0": the package version (CLI --version, the OpenAPI document). */
export const PACKAGE_VERSION = readPackageVersion();

/** "sdlite 0.1.0": A1111's `Version` entry in infotexts and the `version` of its info JSON. */
export const SDLITE_VERSION = `sdlite ${PACKAGE_VERSION}`;
