#!/usr/bin/env node
/** The `sdlite` command: parses arguments (commander) and hands over to one command module each. */
import { Command } from "commander";
import { PACKAGE_VERSION } from "../version.js";
import { registerBenchCommand } from "./commands/bench.js";
import { registerCacheCommand } from "./commands/cache.js";
import { registerGenerateCommand } from "./commands/generate.js";
import { registerInfoCommand } from "./commands/info.js";
import { registerModelsCommand } from "./commands/models.js";
import { registerProfileCommand } from "./commands/profile.js";
import { registerServeCommand } from "./commands/serve.js";
import { registerTokenizeCommand } from "./commands/tokenize.js";
import { registerUpscaleCommand } from "./commands/upscale.js";
import { registerWorkerCommand } from "./commands/worker.js";
import { failIfExitingUnsettled } from "./lost-await-guard.js";

export function buildProgram(): Command {
  const program = new Command()
    .name("sdlite")
    .description("Stable Diffusion 1.x, fast, private and offline")
    .version(PACKAGE_VERSION)
    .showHelpAfterError(false); // a usage error is one line; --help has the rest
  registerGenerateCommand(program);
  registerTokenizeCommand(program);
  registerModelsCommand(program);
  registerInfoCommand(program);
  registerServeCommand(program);
  registerBenchCommand(program);
  registerUpscaleCommand(program);
  registerProfileCommand(program);
  registerCacheCommand(program);
  registerWorkerCommand(program);
  return program;
}

const command = buildProgram().parseAsync(process.argv);
// A command whose await got lost must not end with status 0 as if it had succeeded.
failIfExitingUnsettled(command);
command.catch((err: unknown) => {
  process.stderr.write(`sdlite: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
