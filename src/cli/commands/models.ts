import type { Command } from "commander";
import { type CachedRepo, type LocalModel, scanHubCache, scanModelsFolder } from "../../hub/cache-scan.js";
import { resolveHubSettings, sdliteModelsDir } from "../../hub/hub-settings.js";
import type { ModelLooks } from "../../hub/model-kind.js";
import { formatBytes, formatTable } from "../format.js";

const HELP = `
Where models are looked for:
  Hugging Face cache   $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
                       (the cache huggingface_hub, diffusers and transformers share)
  sdlite models folder $SDLITE_MODELS, else $XDG_DATA_HOME/sdlite/models,
                       else ~/.local/share/sdlite/models
                       (single-file .safetensors/.ckpt checkpoints, or diffusers/ONNX folders,
                       in any subfolder)`;

function formatLooks(looks: ModelLooks): string {
  const family = looks.sd2 ? "SD2.x " : looks.sd1 === true ? "SD1.x " : looks.sd1 === null ? "SD1.x? " : "";
  const format = { diffusers: "diffusers", onnx: "ONNX", "single-file": "single file", other: "other" }[
    looks.format
  ];
  return `${family}${format} (${looks.detail})`;
}

function revisionLabel(repo: CachedRepo): string {
  return repo.revisions
    .map(
      (r) => `${r.refs.length > 0 ? `${r.refs.join(",")} ` : ""}${r.commit.slice(0, 8)} (${r.files} files)`,
    )
    .join("; ");
}

function printText(cacheDir: string, repos: CachedRepo[], modelsDir: string, local: LocalModel[]): void {
  const out: string[] = [`Hugging Face cache: ${cacheDir}`];
  if (repos.length === 0) out.push("  (no model repos)");
  else {
    const rows = repos.map((r) => {
      const partial = r.incompleteBytes > 0 ? ` (+${formatBytes(r.incompleteBytes)} partial)` : "";
      return [r.repo, revisionLabel(r), formatBytes(r.sizeOnDisk) + partial, formatLooks(r.looks)];
    });
    out.push(formatTable([["REPO", "REVISIONS", "SIZE", "KIND"], ...rows]));
  }
  out.push("", `sdlite models folder: ${modelsDir}`);
  if (local.length === 0) out.push("  (no models)");
  else {
    const rows = local.map((m) => [m.name, formatBytes(m.size), formatLooks(m.looks)]);
    out.push(formatTable([["NAME", "SIZE", "KIND"], ...rows]));
  }
  process.stdout.write(`${out.join("\n")}\n`);
}

export function registerModelsCommand(program: Command): void {
  program
    .command("models")
    .description("list the models on disk: Hugging Face cache repos and sdlite's models folder")
    .option("--json", "print one JSON document instead of tables")
    .option("--cache-dir <dir>", "Hugging Face hub cache to scan (default: from the environment, see below)")
    .option("--models-dir <dir>", "sdlite models folder to scan (default: from the environment, see below)")
    .addHelpText("after", HELP)
    .action((options: { json?: boolean; cacheDir?: string; modelsDir?: string }) => {
      const cacheDir = options.cacheDir ?? resolveHubSettings().cacheDir;
      const modelsDir = options.modelsDir ?? sdliteModelsDir();
      const repos = scanHubCache(cacheDir);
      const local = scanModelsFolder(modelsDir);
      if (options.json) {
        const doc = { hubCache: cacheDir, repos, modelsDir, models: local };
        process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      } else {
        printText(cacheDir, repos, modelsDir, local);
      }
    });
}
