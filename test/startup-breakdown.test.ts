/**
 * --json's start-up breakdown: sessions named by their cache entry's network, where they came
 * from, the thread each lives in, and the time before the first step taken from the UNet's first run
 * (not another network's), and the sessions preloaded before they were asked for.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startupBreakdown } from "../src/cli/startup-breakdown.js";
import { RecordingRuntime } from "../src/runtime/recording-runtime.js";
import type { ModelSource, Runtime, Session } from "../src/runtime/runtime.js";

/** A runtime whose sessions do nothing, on a clock the test moves. */
function fakeRuntime(clock: { t: number; cpu: number }): Runtime {
  return {
    name: "fake",
    availableProviders: () => ["cpu"],
    createSession: async (_model: ModelSource): Promise<Session> => {
      clock.t += 100;
      clock.cpu += 80;
      return {
        inputNames: [],
        outputNames: [],
        run: async () => {
          clock.t += 1000;
          return {};
        },
        release: async () => {},
      };
    },
  };
}

describe("start-up breakdown", () => {
  it("names sessions, their sources, creation and first runs; before-first-step is the UNet's first run", async () => {
    const clock = { t: 500, cpu: 0 };
    const runtime = new RecordingRuntime(fakeRuntime(clock), { now: () => clock.t, cpu: () => clock.cpu });
    assert.equal(runtime.optimizedModelFingerprint, undefined, "absent capabilities stay absent");
    const te = await runtime.createSession({
      path: "/c/optimized/text_encoder-0123456789abcdef0123456789abcdef/model.onnx",
    });
    await te.run({});
    // the UNet's session in a worker thread: recorded alongside, into the same list
    const unet = await runtime.alongside(fakeRuntime(clock)).createSession({
      path: "/c/graphs/unet-fedcba9876543210fedcba9876543210/model.onnx",
    });
    await unet.run({});
    await unet.run({});
    await runtime.createSession({ path: "/models/onnx/vae_decoder/model.onnx" });
    const b = startupBreakdown({
      runStartedAt: 300,
      resolveModelMs: 5,
      openPipelineMs: 20,
      sessions: runtime.sessions(),
      bootstrapCompleteAt: 40,
      now: clock.t,
      cpuMs: 999,
    });
    assert.deepEqual(b.sessions, [
      {
        network: "text_encoder",
        from: "optimized",
        thread: "main",
        createdAtMs: 500,
        createMs: 100,
        createCpuMs: 80,
        firstRunMs: 1000,
        runs: 1,
      },
      {
        network: "unet",
        from: "graph",
        thread: "worker",
        createdAtMs: 1600,
        createMs: 100,
        createCpuMs: 80,
        firstRunMs: 1000,
        runs: 2,
      },
      {
        network: "vae_decoder",
        from: "file",
        thread: "main",
        createdAtMs: 3700,
        createMs: 100,
        createCpuMs: 80,
        runs: 0,
      },
    ]);
    assert.equal(b.beforeFirstStepMs, 1700, "the UNet's first run began after its creation (1600 + 100)");
    assert.equal(b.importMs, 260);
    assert.equal(b.nodeBootstrapMs, 40);
    assert.equal(b.processMs, 3800);
    assert.equal(b.preloads, undefined, "none without a preload");
  });

  it("lists the preloads by network: when each started, was ready, and whether it was taken", () => {
    const b = startupBreakdown({
      runStartedAt: 90,
      resolveModelMs: 5,
      openPipelineMs: 20,
      sessions: [],
      preloads: [
        {
          path: "/c/optimized/unet-0123456789abcdef0123456789abcdef/model.onnx",
          startedAt: 100.04,
          readyAt: 1300,
          created: true,
          taken: true,
        },
        {
          path: "/c/optimized/text_encoder-0123456789abcdef0123456789abcdef/model.onnx",
          startedAt: 101,
          taken: false,
        },
      ],
      bootstrapCompleteAt: 40,
      now: 2000,
      cpuMs: 1,
    });
    assert.deepEqual(b.preloads, [
      { network: "unet", startedAtMs: 100, readyAtMs: 1300, taken: true },
      { network: "text_encoder", startedAtMs: 101, taken: false },
    ]);
  });
});
