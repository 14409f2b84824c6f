/** `sdlite tokenize`: the padded CLIP ids of a prompt, as StableDiffusionPipeline would feed them. */
import type { Command } from "commander";
import { loadClipTokenizer } from "../../tokenizer/load-tokenizer.js";

export function registerTokenizeCommand(program: Command): void {
  program
    .command("tokenize")
    .description("print the padded CLIP token ids of a prompt as a JSON array")
    .argument("<prompt>", "the prompt text")
    .requiredOption("--tokenizer <dir>", "tokenizer folder with vocab.json and merges.txt")
    .action((prompt: string, options: { tokenizer: string }) => {
      const tokenizer = loadClipTokenizer(options.tokenizer);
      process.stdout.write(`${JSON.stringify(tokenizer.encodePadded(prompt))}\n`);
    });
}
