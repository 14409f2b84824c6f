/**
 * Builds the browser UI of `sdlite serve`: bundles web/src/main.ts with esbuild into
 * dist/web/main.js and copies web/index.html and the stylesheets next to it. Everything the page
 * loads comes from that folder (no CDN). Type checking is `tsc -p web/tsconfig.json` (esbuild only
 * strips types).
 *
 *   node --import tsx scripts/build-web.ts [outDir]
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build, type Plugin } from "esbuild";

/** The repository root: the nearest folder above this file holding web/index.html (works from dist/ too). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "web", "index.html"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("build-web: cannot find web/index.html above scripts/");
    dir = parent;
  }
  return dir;
}

export interface BuildWebOptions {
  /** Default: <repo>/dist/web. */
  outDir?: string;
  /** Default true; false keeps the bundle readable. */
  minify?: boolean;
  /**
   * Test builds: imports whose path ends with a key are bundled from the value (an absolute path)
   * instead, e.g. `{ "local/engine-deps.js": doublePath }` puts a test double in place of the
   * in-tab engine.
   */
  replaceModules?: Record<string, string>;
}

function replaceModulesPlugin(replacements: Record<string, string>): Plugin {
  return {
    name: "replace-modules",
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const hit = Object.entries(replacements).find(([suffix]) => args.path.endsWith(suffix));
        return hit ? { path: hit[1] } : undefined;
      });
    },
  };
}

/** Builds the UI into outDir (replacing what was there) and returns that folder. */
export async function buildWeb(options: BuildWebOptions = {}): Promise<string> {
  const root = repoRoot();
  const outDir = resolve(options.outDir ?? join(root, "dist", "web"));
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(root, "web", "src", "main.ts")],
    outfile: join(outDir, "main.js"),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2022"],
    minify: options.minify ?? true,
    sourcemap: true,
    legalComments: "none",
    logLevel: "warning",
    plugins: options.replaceModules ? [replaceModulesPlugin(options.replaceModules)] : [],
  });
  copyFileSync(join(root, "web", "index.html"), join(outDir, "index.html"));
  for (const name of readdirSync(join(root, "web", "src"))) {
    if (name.endsWith(".css")) copyFileSync(join(root, "web", "src", name), join(outDir, name));
  }
  return outDir;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await buildWeb({ outDir: process.argv[2] });
}
