#!/usr/bin/env node
/** The `sdlite` command: parses arguments (commander) and hands over to one command module each. */
import { Command } from "commander";
import { PACKAGE_VERSION } from "../version.js";
import { failIfExitingUnsettled } from "./lost-await-guard.js";

type Register = (program: Command) => void;

/**
 * Each command's module, in `--help`'s order. Loaded when needed: a command line naming one
 * loads that one only (a fresh `generate` then starts its work ~0.1 s earlier than after loading
 * every command's modules); anything else (`--help`, a typo) loads them all.
 */
export const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  generate: async () => (await import("./commands/generate.js")).registerGenerateCommand,
  tokenize: async () => (await import("./commands/tokenize.js")).registerTokenizeCommand,
  models: async () => (await import("./commands/models.js")).registerModelsCommand,
  info: async () => (await import("./commands/info.js")).registerInfoCommand,
  serve: async () => (await import("./commands/serve.js")).registerServeCommand,
  bench: async () => (await import("./commands/bench.js")).registerBenchCommand,
  upscale: async () => (await import("./commands/upscale.js")).registerUpscaleCommand,
  profile: async () => (await import("./commands/profile.js")).registerProfileCommand,
  cache: async () => (await import("./commands/cache.js")).registerCacheCommand,
  worker: async () => (await import("./commands/worker.js")).registerWorkerCommand,
};

/** The program with every command, or only `command` when it names one. */
export async function buildProgram(command?: string): Promise<Command> {
  const program = new Command()
    .name("sdlite")
    .description("Stable Diffusion 1.x, fast, private and offline")
    .version(PACKAGE_VERSION)
    .showHelpAfterError(false); // a usage error is one line; --help has the rest
  const names = command !== undefined && Object.hasOwn(COMMANDS, command) ? [command] : Object.keys(COMMANDS);
  const registers = await Promise.all(names.map((name) => COMMANDS[name]()));
  for (const register of registers) register(program);
  return program;
}

const command = buildProgram(process.argv[2]).then((program) => program.parseAsync(process.argv));
// A command whose await got lost must not end with status 0 as if it had succeeded.
failIfExitingUnsettled(command);
command.catch((err: unknown) => {
  process.stderr.write(`sdlite: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
