/**
 * The executor process's entry point (forked by child-process-executor.ts): an InProcessExecutor
 * driven by the parent's messages. Its main thread is the one onnxruntime blocks; the server's
 * stays free. It exits when the parent goes away (the IPC channel closes).
 */
import { describeRepair } from "../cache/cache-entries.js";
import { GraphCache } from "../cache/graph-cache.js";
import { type FromExecutor, serializeError, type ToExecutor } from "./executor-messages.js";
import { InProcessExecutor } from "./in-process-executor.js";

/** argv[2]: the executor's settings as JSON. */
interface ProcessSettings {
  readonly maxPipelines?: number;
  /** Threads per upscaler operator; default: physical cores. */
  readonly upscaleThreads?: number;
  /** false: upscaler graphs are built in memory, not cached. */
  readonly upscaleCache?: boolean;
}

const send = (message: FromExecutor) => process.send?.(message);
const settings: ProcessSettings = JSON.parse(process.argv[2] ?? "{}");
// one graph cache for every pipeline: a damaged entry is rebuilt, and the server logs it
const graphCache = new GraphCache(undefined, {
  onRepair: (r) => send({ type: "log", line: describeRepair(r) }),
});
const executor = new InProcessExecutor({
  maxPipelines: settings.maxPipelines,
  local: { graphCache },
  upscalers: {
    threads: settings.upscaleThreads,
    cache: settings.upscaleCache === false ? false : graphCache,
  },
});

/** The running job's (or upscale's) controls, reached by abort and skip messages. */
interface Running {
  readonly id: number;
  readonly controller: AbortController;
  iteration?: { readonly index: number; readonly controller: AbortController };
  keep: boolean;
}
let running: Running | undefined;

async function handle(message: ToExecutor): Promise<void> {
  switch (message.type) {
    case "abort":
      if (running?.id === message.id) {
        running.keep = message.keep;
        running.controller.abort(message.reason);
      }
      return;
    case "skip":
      if (running?.id === message.id && running.iteration?.index === message.iteration) {
        running.keep = message.keep;
        running.iteration.controller.abort("skip");
      }
      return;
    case "prepare":
      await executor.prepare(message.spec);
      send({ type: "model", model: executor.latestModel() });
      send({ type: "done", id: message.id });
      return;
    case "release":
      await executor.release();
      send({ type: "model", model: undefined });
      send({ type: "done", id: message.id });
      return;
    case "upscale": {
      const { id } = message;
      const job: Running = { id, controller: new AbortController(), keep: false };
      running = job;
      try {
        const result = await executor.upscale(message.job, {
          signal: job.controller.signal,
          onProgress: (upscaler, progress) => send({ type: "upscale-progress", id, upscaler, progress }),
        });
        send({ type: "done", id, result });
      } finally {
        running = undefined;
      }
      return;
    }
    case "run": {
      const { id } = message;
      const job: Running = { id, controller: new AbortController(), keep: false };
      running = job;
      try {
        const result = await executor.run(message.job, {
          signal: job.controller.signal,
          iterationSignal: (index) => {
            const controller = new AbortController();
            job.iteration = { index, controller };
            send({ type: "iteration", id, iteration: index });
            return AbortSignal.any([job.controller.signal, controller.signal]);
          },
          keepStopped: () => job.keep,
          onProgress: (progress) => send({ type: "progress", id, progress }),
          preview: message.preview,
          onPreview: (png, step) => send({ type: "preview", id, png, step }),
        });
        send({ type: "model", model: executor.latestModel() });
        send({ type: "done", id, result });
      } finally {
        running = undefined;
      }
      return;
    }
  }
}

process.on("message", (message: ToExecutor) => {
  handle(message).catch((err: unknown) => {
    if ("id" in message) send({ type: "failed", id: message.id, error: serializeError(err) });
  });
});
process.on("disconnect", () => {
  void executor.close().finally(() => process.exit(0));
});
