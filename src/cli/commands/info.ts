/** `sdlite info image.png`: the A1111 generation parameters stored in a PNG, as JSON. */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { parseInfotext } from "../../image/infotext.js";
import { hasPngSignature, readPngText } from "../../image/png.js";

async function readImage(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new Error(`no such file: ${file}`);
    if (code === "EISDIR") throw new Error(`${file} is a directory, not a PNG file`);
    throw err;
  }
}

export async function imageInfo(file: string) {
  const bytes = await readImage(file);
  if (!hasPngSignature(bytes)) throw new Error(`${file} is not a PNG file`);
  let text: Record<string, string>;
  try {
    text = readPngText(bytes);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  const raw = text.parameters;
  if (raw === undefined) {
    const keys = Object.keys(text);
    const found = keys.length > 0 ? `its text chunks are: ${keys.join(", ")}` : "it has no text chunks";
    throw new Error(`${file} has no A1111 "parameters" text chunk (${found})`);
  }
  const parsed = parseInfotext(raw);
  return {
    file,
    prompt: parsed.prompt,
    negativePrompt: parsed.negativePrompt,
    parameters: parsed.parameters,
    raw,
  };
}

export function registerInfoCommand(program: Command): void {
  program
    .command("info")
    .description("print the generation parameters (A1111 infotext) stored in a PNG as JSON")
    .argument("<image>", "a PNG file written by sdlite, AUTOMATIC1111, Forge, ...")
    .action(async (file: string) => {
      const info = await imageInfo(file);
      process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    });
}
