/**
 * The LoRAs of a job: `<lora:name:weight>` tags in the prompt, looked up in a LoRA folder the way
 * A1111's Lora extension does (a name that is not found is left out with a warning, the job goes
 * on), followed by LoRAs given as files (`--lora FILE:WEIGHT`). One parser, lora/lora-tags.ts,
 * for the CLI and the server alike.
 */
import { LoraTagError, parsePromptTags } from "../lora/lora-tags.js";
import type { JobLora } from "./generation-job.js";
import { InvalidRequestError } from "./request.js";

/** Where prompt tags are looked up: a name (or alias) to a file. */
export interface LoraFolder {
  /** The folder, for messages; undefined when none is configured. */
  readonly dir: string | undefined;
  find(name: string): { readonly path: string } | undefined;
}

export interface ResolvedLoras {
  readonly loras: JobLora[];
  /** What was left out or changed, one line each (A1111 also goes on). */
  readonly warnings: string[];
}

/** The name A1111 knows a LoRA file by: its file name without extension. */
export function loraName(path: string): string {
  return fileStem(path);
}

/** The prompt's LoRA tags found in `folder`, then `files` (given outside the prompt). */
export function resolveJobLoras(
  prompt: string,
  folder: LoraFolder | undefined,
  files: readonly { path: string; weight: number }[] = [],
): ResolvedLoras {
  let parsed: ReturnType<typeof parsePromptTags>;
  try {
    parsed = parsePromptTags(prompt);
  } catch (err) {
    if (err instanceof LoraTagError) throw new InvalidRequestError(`prompt: ${err.message}`);
    throw err;
  }
  const loras: JobLora[] = [];
  const warnings: string[] = [];
  for (const tag of parsed.loras) {
    const entry = folder?.find(tag.name);
    if (!entry) {
      // A1111 goes on without it ("Couldn't find Lora with name …")
      warnings.push(
        `LoRA "${tag.name}" not found${folder?.dir ? ` in ${folder.dir}` : " (no LoRA folder configured)"}; generated without it`,
      );
      continue;
    }
    if (tag.unetWeight !== tag.textEncoderWeight) {
      warnings.push(
        `LoRA "${tag.name}": separate text-encoder and UNet weights are not supported; ${tag.textEncoderWeight} used for both`,
      );
    }
    loras.push({ path: entry.path, weight: tag.textEncoderWeight, name: tag.name, inPrompt: true });
  }
  for (const other of parsed.others) {
    warnings.push(
      `<${other.kind}:${other.args}> removed from the prompt: "${other.kind}" networks are not supported`,
    );
  }
  for (const file of files) {
    loras.push({ path: file.path, weight: file.weight, name: loraName(file.path), inPrompt: false });
  }
  return { loras, warnings };
}

/** A path's file name without its extension (node's basename(p, extname(p)), either separator): no node:path, so the browser's infotext names LoRAs alike. */
function fileStem(path: string): string {
  const trimmed = path.replace(/[\\/]+$/, "");
  const name = trimmed.slice(Math.max(trimmed.lastIndexOf("/"), trimmed.lastIndexOf("\\")) + 1);
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(0, dot) : name;
}
