/**
 * Builds the browser UI of `sdlite serve`: bundles web/src/main.ts with esbuild into
 * dist/web/main.js, the in-tab engine (web/src/local/local-engine.ts) into dist/web/local-engine.js,
 * and copies web/index.html, the stylesheets, the CLIP vocabulary (dist/web/clip-tokenizer/) and
 * onnxruntime-web's module and wasm files (dist/web/ort/) next to them. Everything the page loads
 * comes from that folder (no CDN). Type checking is `tsc -p web/tsconfig.json` (esbuild only
 * strips types).
 *
 *   node --import tsx scripts/build-web.ts [outDir]
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build, type Plugin } from "esbuild";

/**
 * onnxruntime-web's build with the native WebGPU execution provider (it also runs "wasm"), and the
 * wasm binary it loads. The engine imports the module from ORT_WEB_DIR at run time.
 */
export const ORT_WEB_FILES = [
  "ort.webgpu.min.mjs",
  "ort-wasm-simd-threaded.asyncify.mjs",
  "ort-wasm-simd-threaded.asyncify.wasm",
] as const;
export const ORT_WEB_DIR = "ort";

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

/**
 * src/version.ts reads package.json from the disk at run time; in the browser bundle it is the
 * version written in at build time instead (the same text: the infotext's `Version`).
 */
function packageVersionPlugin(root: string): Plugin {
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf-8")) as { version: string };
  const versionFile = join(root, "src", "version.ts");
  return {
    name: "sdlite-package-version",
    setup(b) {
      b.onResolve({ filter: /\/version\.js$/ }, (args) =>
        resolve(args.resolveDir, args.path.replace(/\.js$/, ".ts")) === versionFile
          ? { path: versionFile, namespace: "sdlite-version" }
          : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: "sdlite-version" }, () => ({
        contents: `export const PACKAGE_VERSION = ${JSON.stringify(version)};\nexport const SDLITE_VERSION = \`sdlite \${PACKAGE_VERSION}\`;\n`,
        loader: "ts",
      }));
    },
  };
}

/**
 * The engine bundle must not lean on Node's globals: esbuild (platform browser) already refuses
 * `node:` imports, and web/tsconfig.json has Node's types (the engine's modules are type-checked
 * with the Node code they share), so Buffer or process would slip through to fail in the tab.
 */
function checkBrowserOnly(bundle: string): void {
  const found = readFileSync(bundle, "utf-8").match(/\b(Buffer|process)\s*[.(]/);
  if (found) throw new Error(`build-web: ${bundle} uses Node's ${found[1]}, which the browser does not have`);
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
  // the page and the in-tab engine: two browser bundles, loaded apart (engine-deps.ts)
  const bundle = (entry: string[], outfile: string, plugins: Plugin[]) =>
    build({
      entryPoints: [join(root, "web", "src", ...entry)],
      outfile: join(outDir, outfile),
      plugins,
      bundle: true,
      format: "esm",
      platform: "browser",
      target: ["es2022"],
      minify: options.minify ?? true,
      sourcemap: true,
      legalComments: "none",
      logLevel: "warning",
    });
  await bundle(
    ["main.ts"],
    "main.js",
    options.replaceModules ? [replaceModulesPlugin(options.replaceModules)] : [],
  );
  await bundle(["local", "local-engine.ts"], "local-engine.js", [packageVersionPlugin(root)]);
  checkBrowserOnly(join(outDir, "local-engine.js"));
  copyFileSync(join(root, "web", "index.html"), join(outDir, "index.html"));
  const ortDist = dirname(createRequire(import.meta.url).resolve("onnxruntime-web/webgpu"));
  mkdirSync(join(outDir, ORT_WEB_DIR));
  for (const name of ORT_WEB_FILES) copyFileSync(join(ortDist, name), join(outDir, ORT_WEB_DIR, name));
  mkdirSync(join(outDir, "clip-tokenizer"));
  for (const name of readdirSync(join(root, "assets", "clip-tokenizer"))) {
    copyFileSync(join(root, "assets", "clip-tokenizer", name), join(outDir, "clip-tokenizer", name));
  }
  for (const name of readdirSync(join(root, "web", "src"))) {
    if (name.endsWith(".css")) copyFileSync(join(root, "web", "src", name), join(outDir, name));
  }
  return outDir;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await buildWeb({ outDir: process.argv[2] });
}
