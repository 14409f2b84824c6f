/**
 * `sdlite generate --json`'s `timings.startup`: where a fresh process spends its time before the
 * first denoising step and in all. Times are ms since the process started (Node's performance
 * clock), so `beforeFirstStepMs` includes Node's own start, loading sdlite's modules, resolving the
 * model, opening it, each session's creation and the prompt's encoding. CPU times are the
 * process's (all threads): steadier than wall times on a shared machine.
 */
import { dirname, sep } from "node:path";
import { cacheEntryKind } from "../cache/graph-key.js";
import type { SessionActivity } from "../runtime/recording-runtime.js";
import type { PreloadRecord } from "../runtime/worker-thread-runtime.js";

export interface SessionStartup {
  /** The network, from its model's folder: "text_encoder", "unet", "taesd_decoder", … */
  readonly network: string;
  /** "optimized": a saved optimised model; "graph": a cached built graph; "file": a model file as it is. */
  readonly from: "optimized" | "graph" | "file" | "memory";
  /** "worker": created and run in a worker thread (the UNet, SDLITE_UNET_WORKER). */
  readonly thread: "main" | "worker";
  readonly createdAtMs: number;
  readonly createMs: number;
  readonly createCpuMs: number;
  readonly firstRunMs?: number;
  readonly runs: number;
}

/** The UNet's session started before the pipeline asked for it (cli/unet-preload.ts). */
export interface PreloadStartup {
  readonly network: string;
  readonly startedAtMs: number;
  /** When its worker had created it (or failed to). */
  readonly readyAtMs?: number;
  /** Whether the pipeline asked for this very session and took it over. */
  readonly taken: boolean;
}

export interface StartupBreakdown {
  /** Node itself, until it was ready to load sdlite's modules. */
  readonly nodeBootstrapMs: number;
  /** Loading sdlite's modules and parsing the command line, until `generate` began. */
  readonly importMs: number;
  readonly resolveModelMs: number;
  /** Opening the model (headers, tokenizer, networks set up; sessions are created later). */
  readonly openPipelineMs: number;
  readonly sessions: readonly SessionStartup[];
  /** Sessions started before they were asked for (the UNet's hint); absent when none was. */
  readonly preloads?: readonly PreloadStartup[];
  /** From the process's start until the UNet's first run began (its session created). */
  readonly beforeFirstStepMs?: number;
  /** From the process's start until now. */
  readonly processMs: number;
  readonly processCpuMs: number;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

const networkOf = cacheEntryKind;

function sourceOf(model: string): SessionStartup["from"] {
  if (model === "in-memory") return "memory";
  const parts = dirname(dirname(model)).split(sep);
  const folder = parts[parts.length - 1];
  return folder === "optimized" ? "optimized" : folder === "graphs" ? "graph" : "file";
}

export function sessionStartup(a: SessionActivity): SessionStartup {
  return {
    network: networkOf(a.model),
    from: sourceOf(a.model),
    thread: a.thread,
    createdAtMs: round(a.createdAt),
    createMs: round(a.createMs),
    createCpuMs: round(a.createCpuMs),
    ...(a.firstRunMs !== undefined ? { firstRunMs: round(a.firstRunMs) } : {}),
    runs: a.runs,
  };
}

export interface StartupInputs {
  /** performance.now() when `generate` began. */
  readonly runStartedAt: number;
  readonly resolveModelMs: number;
  readonly openPipelineMs: number;
  readonly sessions: readonly SessionActivity[];
  readonly preloads?: readonly PreloadRecord[];
  /** Defaults: this process's clocks. */
  readonly bootstrapCompleteAt?: number;
  readonly now?: number;
  readonly cpuMs?: number;
}

export function startupBreakdown(inputs: StartupInputs): StartupBreakdown {
  const bootstrap = inputs.bootstrapCompleteAt ?? performance.nodeTiming.bootstrapComplete;
  const cpu = process.cpuUsage();
  const firstUnetRun = inputs.sessions.find(
    (s) => networkOf(s.model) === "unet" && s.firstRunAt !== undefined,
  );
  return {
    nodeBootstrapMs: round(bootstrap),
    importMs: round(inputs.runStartedAt - bootstrap),
    resolveModelMs: round(inputs.resolveModelMs),
    openPipelineMs: round(inputs.openPipelineMs),
    sessions: inputs.sessions.map(sessionStartup),
    ...(inputs.preloads?.length
      ? {
          preloads: inputs.preloads.map((p) => ({
            network: networkOf(p.path),
            startedAtMs: round(p.startedAt),
            ...(p.readyAt !== undefined ? { readyAtMs: round(p.readyAt) } : {}),
            taken: p.taken,
          })),
        }
      : {}),
    ...(firstUnetRun?.firstRunAt !== undefined ? { beforeFirstStepMs: round(firstUnetRun.firstRunAt) } : {}),
    processMs: round(inputs.now ?? performance.now()),
    processCpuMs: round(inputs.cpuMs ?? (cpu.user + cpu.system) / 1000),
  };
}
