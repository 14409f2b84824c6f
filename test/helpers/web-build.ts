/** The web UI and in-tab engine built once per test process into a temporary folder (scripts/build-web.ts). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildWeb } from "../../scripts/build-web.js";

let built: Promise<string> | undefined;

export function builtWebDir(): Promise<string> {
  built ??= (async () => {
    const work = mkdtempSync(join(tmpdir(), "sdlite-web-build-"));
    process.on("exit", () => rmSync(work, { recursive: true, force: true }));
    return buildWeb({ outDir: join(work, "web"), minify: false });
  })();
  return built;
}
