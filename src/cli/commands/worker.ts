/**
 * `sdlite worker --queue redis://… -m MODEL`: runs the generations an `sdlite serve --queue`
 * server puts on Redis for the models given (src/queue/job-worker.ts), until SIGTERM/SIGINT,
 * which let the running job finish first.
 */
import { existsSync } from "node:fs";
import { basename, resolve } from "node:path";
import type { Command } from "commander";
import { modelNameOf } from "../../pipeline/generation-job.js";
import { collect, parseInteger } from "../option-parsers.js";

export interface WorkerCommandOptions {
  queue: string;
  model: string[];
  device: string;
  threads?: number;
  lockSeconds: number;
}

/** The name the API routes a model's jobs by: a file's stem, a folder's name, a repo id as given. */
export function routeOf(model: string): string {
  return existsSync(model) ? modelNameOf(basename(resolve(model))) : model;
}

export async function runWorker(options: WorkerCommandOptions): Promise<void> {
  const { checkedRedisUrl, safeUrl } = await import("../../queue/redis-url.js");
  const url = checkedRedisUrl(options.queue);
  const say = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const { resolveModel } = await import("../resolve-model.js");
  const models = [];
  for (const m of options.model) {
    const resolved = await resolveModel(m, {
      onHubLookup: (repo) => say(`looking up ${repo} on the Hugging Face hub (cached files are used first)`),
    });
    models.push({ route: routeOf(m), path: resolved.path });
  }
  const { startWorker } = await import("../../queue/job-worker.js");
  say(`connecting to Redis at ${safeUrl(url)} (waits until it answers)`);
  const worker = await startWorker({
    url,
    models,
    device: options.device,
    threads: options.threads,
    lockMs: options.lockSeconds * 1000,
    log: say,
  });
  say(
    `sdlite worker ${worker.id} on ${safeUrl(url)}: ${models.map((m) => m.route).join(", ")} (${options.device})`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    say(`${signal}: finishing the running job, then exiting`);
    worker.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

export function registerWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description("run the jobs an `sdlite serve --queue redis://…` server queues, for the models given")
    .requiredOption("--queue <url>", "the Redis the server queues on: redis://host:port")
    .requiredOption(
      "-m, --model <model>",
      "a model this worker runs (file, folder or Hugging Face repo id; its name must be the server's); repeatable",
      collect,
      [],
    )
    .option("--device <name>", 'where the networks run: "cpu" or an onnxruntime execution provider', "cpu")
    .option("--threads <n>", "threads per operator (default: physical cores)", parseInteger)
    .option(
      "--lock-seconds <n>",
      "a job whose worker is silent this long runs again on another worker",
      parseInteger,
      30,
    )
    .action(async (options: WorkerCommandOptions) => {
      if (options.model.length === 0) throw new Error("worker needs at least one -m MODEL");
      if (options.lockSeconds < 2)
        throw new Error(`--lock-seconds must be at least 2, got ${options.lockSeconds}`);
      await runWorker(options);
    });
}
