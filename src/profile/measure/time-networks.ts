/**
 * Times the planned networks on this machine with the runtime's profiler: one session per graph
 * (optimised as the engine does, level "all"), for each input shape one untimed warm-up call and
 * `runs` timed calls, then the trace read back as seconds per call and per op kind.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GraphBuilder } from "../../graph/graph-builder.js";
import { writeModel } from "../../graph/write-model.js";
import type { Runtime, SessionOptions, TensorData } from "../../runtime/runtime.js";
import type { NetworkCount } from "../count-graph.js";
import type { OpKind } from "../op-kinds.js";
import { averageKindTimes, parseOrtTrace } from "../ort-trace.js";
import type { NetworkPlan } from "../profile-plan.js";

export interface NetworkTiming {
  /** Timed calls averaged. */
  readonly runs: number;
  /** The runtime's whole call (kernels and the executor between them). */
  readonly secondsPerCall: number;
  readonly kernelSeconds: number;
  readonly byKind: Readonly<Record<OpKind, number>>;
  /** Building, serialising and loading the graph (once per graph, shared by its shapes). */
  readonly sessionSeconds: number;
}

export interface TimingOptions {
  readonly runtime: Runtime;
  readonly session: SessionOptions;
  /** Timed calls per shape (after one warm-up). */
  readonly runs: number;
  readonly onProgress?: (message: string) => void;
}

/** CLIP's start and end tokens and a few ordinary ones: any valid ids time the same. */
const SAMPLE_TOKENS = [49406, 320, 1125, 539, 320, 2368, 49407];
const DIFFUSION_TIMESTEP = 500;

/** Deterministic feeds of the right shapes and types (values do not change kernel times). */
export function sampleFeeds(graph: GraphBuilder, dims: Readonly<Record<string, readonly number[]>>) {
  const feeds: Record<string, TensorData> = {};
  let state = 12345;
  const uniform = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state / 2 ** 32) * 2 - 1;
  };
  for (const input of graph.inputs) {
    const shape = dims[input.name];
    const n = shape.reduce((a, b) => a * b, 1);
    if (input.elementType === "int32") {
      const ids = Int32Array.from({ length: n }, (_, i) => SAMPLE_TOKENS[Math.min(i % shape[1], 6)]);
      feeds[input.name] = { dims: shape, data: ids };
    } else if (input.name === "timestep") {
      feeds[input.name] = { dims: shape, data: new Float32Array(n).fill(DIFFUSION_TIMESTEP) };
    } else {
      feeds[input.name] = { dims: shape, data: Float32Array.from({ length: n }, uniform) };
    }
  }
  return feeds;
}

/**
 * The model goes through a file, written one weight at a time, as the engine's graph cache does:
 * a full-size UNet is never held serialised in memory beside the runtime's own copy.
 */
async function openProfiledSession(graph: GraphBuilder, options: TimingOptions, dir: string) {
  const { modelPath } = writeModel(graph, join(dir, "model"));
  return options.runtime.createSession(
    { path: modelPath },
    { ...options.session, enableProfiling: true, profileFilePrefix: join(dir, "trace") },
  );
}

/**
 * Timings by plan id. Plans sharing a graph share its session; `counts` (by plan id) give the
 * node kinds the profiled kernels are labelled with.
 */
export async function timeNetworks(
  plans: readonly NetworkPlan[],
  counts: ReadonlyMap<string, NetworkCount>,
  options: TimingOptions,
): Promise<Map<string, NetworkTiming>> {
  const timings = new Map<string, NetworkTiming>();
  const graphs = [...new Set(plans.map((p) => p.graph))];
  for (const graphName of graphs) {
    const group = plans.filter((p) => p.graph === graphName);
    const dir = mkdtempSync(join(tmpdir(), "sdlite-profile-"));
    try {
      options.onProgress?.(`${graphName}: building and loading the graph`);
      const started = performance.now();
      const graph = group[0].build();
      const session = await openProfiledSession(graph, options, dir);
      const sessionSeconds = (performance.now() - started) / 1000;
      try {
        for (const plan of group) {
          options.onProgress?.(`${plan.id}: 1 warm-up + ${options.runs} timed call(s)`);
          const feeds = sampleFeeds(graph, plan.inputs);
          for (let i = 0; i <= options.runs; i++) await session.run(feeds);
        }
        const trace = await session.endProfiling?.();
        if (!trace) throw new Error(`the ${options.runtime.name} runtime wrote no profile`);
        const runs = parseOrtTrace(JSON.parse(readFileSync(trace, "utf-8")));
        const perShape = options.runs + 1;
        if (runs.length !== group.length * perShape) {
          throw new Error(
            `the profile of ${graphName} holds ${runs.length} runs, expected ${group.length * perShape}`,
          );
        }
        group.forEach((plan, i) => {
          const count = counts.get(plan.id);
          if (!count) throw new Error(`no count for ${plan.id}`);
          const timed = runs.slice(i * perShape + 1, (i + 1) * perShape);
          const t = averageKindTimes(timed, count.nodeKinds);
          timings.set(plan.id, {
            runs: timed.length,
            secondsPerCall: t.runSeconds,
            kernelSeconds: t.kernelSeconds,
            byKind: t.byKind,
            sessionSeconds,
          });
        });
      } finally {
        await session.release();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return timings;
}
