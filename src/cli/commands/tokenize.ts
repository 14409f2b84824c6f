import type { Command } from "commander";

export function registerTokenizeCommand(program: Command): void {
  program
    .command("tokenize")
    .description("print the padded CLIP token ids of a prompt as a JSON array")
    .argument("<prompt>", "the prompt text")
    .requiredOption("--tokenizer <dir>", "tokenizer folder with vocab.json and merges.txt")
    .action(() => {
      throw new Error("tokenize: not implemented yet");
    });
}
