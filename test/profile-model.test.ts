/**
 * The parts of the profile around the counter: the tiling cost model on hand-checked graphs, the
 * hardware files (the shipped three and bad ones), onnxruntime trace parsing (kernel names as
 * onnxruntime writes them), the report's per-image arithmetic, and well-formed SVG charts.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadHardware, shippedHardwareDir, shippedHardwareNames } from "../src/cli/hardware-files.js";
import { hardwareTable, profileText } from "../src/cli/profile-tables.js";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { linear } from "../src/graph/layers.js";
import { countGraph } from "../src/profile/count-graph.js";
import { type HardwareSpec, parseHardwareFile } from "../src/profile/hardware.js";
import type { MachinePeak } from "../src/profile/measure/machine-peak.js";
import type { NetworkTiming } from "../src/profile/measure/time-networks.js";
import { averageKindTimes, builtNodeName, parseOrtTrace } from "../src/profile/ort-trace.js";
import type { NetworkPlan } from "../src/profile/profile-plan.js";
import { buildProfileReport } from "../src/profile/profile-report.js";
import { rooflineChart, stagesChart } from "../src/profile/svg-charts.js";
import { estimateNetwork } from "../src/profile/traffic-model.js";
import { syntheticWeightSource } from "../src/weights/synthetic-weight-source.js";
import { profileSettings } from "./helpers/profile-settings.js";

/** 1 MAC per cycle at 1 GHz (2 GFLOP/s), 1 GB/s of DRAM. */
function machine(onChipBytes: number, activationBytes = 4): HardwareSpec {
  return {
    name: `test ${onChipBytes}`,
    peakFlopsPerSecond: 2e9,
    vectorFlopsPerSecond: 2e9,
    onChipBytes,
    dramBytesPerSecond: 1e9,
    weightBytes: 4,
    activationBytes,
  };
}

function reluChain() {
  const b = new GraphBuilder("relus");
  const x = b.input("x", "float32", [1, 1024]);
  b.output(b.node("Relu", [b.node("Relu", [x])]), "y", "float32");
  return countGraph(b, { x: [1, 1024] });
}

function linearLayer() {
  const b = new GraphBuilder("linear");
  const weights = syntheticWeightSource([
    { canonical: "l.weight", shape: [256, 1024], ldm: "l.weight", ldmShape: [256, 1024] },
    { canonical: "l.bias", shape: [256], ldm: "l.bias", ldmShape: [256] },
  ]);
  const x = b.input("x", "float32", [1, 1024]);
  b.output(linear({ b, weights, attention: "matmul" }, "l", x), "y", "float32");
  return countGraph(b, { x: [1, 1024] });
}

describe("tiling cost model", () => {
  it("spills activations larger than on-chip memory; inputs and outputs always cross DRAM", () => {
    const count = reluChain();
    // 2 KB on chip: the 4 KB intermediate is written and read back (8 KB per op)
    const small = estimateNetwork(count, machine(2048));
    assert.equal(small.dramBytes, 4 * 4096);
    assert.equal(small.spilledBuffers, 3);
    assert.equal(small.bound, "bandwidth");
    // each Relu: 8192 B at 1 GB/s = 8.192 µs, above its 1024 FLOPs at 2 GFLOP/s = 0.512 µs
    assert.ok(Math.abs(small.seconds - 2 * 8.192e-6) < 1e-12, `${small.seconds}`);
    // 8 KB on chip: only the input read and the output written
    assert.equal(estimateNetwork(count, machine(8192)).dramBytes, 2 * 4096);
    // int8 activations on 2 KB: 1 KB tensors fit
    assert.equal(estimateNetwork(count, machine(2048, 1)).dramBytes, 2 * 1024);
  });

  it("streams weights that do not fit on chip once per call, keeps them resident when they do", () => {
    const count = linearLayer();
    const weightBytes = (256 * 1024 + 256) * 4;
    const streamed = estimateNetwork(count, machine(8192));
    assert.equal(streamed.weightsResident, false);
    assert.equal(streamed.weightDramBytes, weightBytes);
    // input 4 KB read, output 1 KB written; the 1 KB product stays on chip
    assert.equal(streamed.activationDramBytes, 4096 + 1024);
    const resident = estimateNetwork(count, machine(4 * 1024 * 1024));
    assert.deepEqual(
      [resident.weightsResident, resident.weightDramBytes, resident.residentWeightBytes],
      [true, 0, weightBytes],
    );
    // 262144 MACs at 2 GFLOP/s = 262.144 µs of compute, plus 256 bias FLOPs
    assert.ok(Math.abs(resident.computeSeconds - (2 * 262144 + 256) / 2e9) < 1e-12);
    assert.equal(resident.bound, "compute");
  });
});

describe("hardware files", () => {
  it("the three shipped descriptions parse, with the units they state", () => {
    assert.deepEqual(shippedHardwareNames(), ["igpu-uhd620", "laptop-2core-avx2", "npu-8k-mac"]);
    const npu = loadHardware("npu-8k-mac");
    assert.equal(npu.peakFlopsPerSecond, 2 * 8192 * 0.75e9);
    assert.equal(npu.onChipBytes, 8 * 1024 * 1024);
    assert.equal(npu.dramBytesPerSecond, 12e9);
    assert.deepEqual([npu.weightBytes, npu.activationBytes], [1, 1]);
    const laptop = loadHardware(join(shippedHardwareDir(), "laptop-2core-avx2.json"));
    assert.equal(laptop.peakFlopsPerSecond, 192e9);
    assert.equal(loadHardware("igpu-uhd620").peakFlopsPerSecond, 768e9);
  });

  it("refuses unknown fields, bad numbers and unknown names with the reason", () => {
    const good = JSON.parse(readFileSync(join(shippedHardwareDir(), "npu-8k-mac.json"), "utf-8"));
    assert.throws(
      () => parseHardwareFile({ ...good, clockMHz: 750 }, "x.json"),
      /x\.json: unknown field "clockMHz"/,
    );
    assert.throws(
      () => parseHardwareFile({ ...good, dramGBps: -1 }, "x.json"),
      /"dramGBps" must be a number > 0/,
    );
    assert.throws(
      () => parseHardwareFile({ ...good, name: "" }, "x.json"),
      /"name" must be a non-empty string/,
    );
    assert.throws(() => parseHardwareFile([], "x.json"), /expected a JSON object/);
    assert.throws(
      () => loadHardware("tpu-v9"),
      /--hardware tpu-v9: no such file, and not a shipped description \(igpu-uhd620, /,
    );
  });
});

describe("onnxruntime traces", () => {
  const kinds = new Map([
    ["down_blocks.0.resnets.0/Mul_33", "elementwise" as const],
    ["Conv_19", "conv" as const],
    ["MatMul_12", "matmul" as const],
    ["MatMul_120", "attention" as const],
  ]);
  it("maps kernels onto built nodes by the name onnxruntime keeps, else by op type", () => {
    const has = (n: string) => kinds.has(n);
    assert.equal(
      builtNodeName("down_blocks.0.resnets.0/Mul_33/QuickGeluFusion/", has),
      "down_blocks.0.resnets.0/Mul_33",
    );
    assert.equal(builtNodeName("Conv_19:0_nchwc", has), "Conv_19");
    assert.equal(builtNodeName("MatMul_120/MatMulAddFusion", has), "MatMul_120");
    assert.equal(builtNodeName("MatMul_1205", has), undefined);
    assert.equal(builtNodeName("ReorderOutput_token_668", has), undefined);
  });

  it("splits kernels by run and averages seconds per kind over the timed runs", () => {
    const kernel = (name: string, op: string, ts: number, dur: number) => ({
      cat: "Node",
      name: `${name}_kernel_time`,
      ts,
      dur,
      args: { op_name: op, provider: "CPUExecutionProvider" },
    });
    const trace = [
      { cat: "Session", name: "model_loading_array", ts: 0, dur: 50 },
      { cat: "Session", name: "model_run", ts: 100, dur: 100 },
      kernel("Conv_19:0_nchwc", "Conv", 110, 40),
      kernel("ReorderOutput_token_1", "ReorderOutput", 150, 10),
      { cat: "Session", name: "model_run", ts: 300, dur: 200 },
      kernel("Conv_19:0_nchwc", "Conv", 310, 60),
      kernel("MatMul_120/MatMulAddFusion", "MatMul", 380, 30),
      kernel("down_blocks.0.resnets.0/Mul_33/QuickGeluFusion/", "QuickGelu", 420, 10),
      kernel("Softmax_7", "Softmax", 440, 20),
    ];
    const runs = parseOrtTrace(trace);
    assert.deepEqual(
      runs.map((r) => [r.duration, r.kernels.length]),
      [
        [100, 2],
        [200, 4],
      ],
    );
    const t = averageKindTimes(runs, kinds);
    assert.ok(Math.abs(t.runSeconds - 150e-6) < 1e-12);
    assert.ok(Math.abs(t.byKind.conv - 50e-6) < 1e-12);
    assert.ok(Math.abs(t.byKind.layout - 5e-6) < 1e-12);
    // a MatMul the counter called attention stays attention; an unknown Softmax is attention by type
    assert.ok(Math.abs(t.byKind.attention - 25e-6) < 1e-12);
    assert.ok(Math.abs(t.byKind.elementwise - 5e-6) < 1e-12);
    assert.ok(Math.abs(t.kernelSeconds - 85e-6) < 1e-12);
    assert.throws(() => parseOrtTrace({}), /not an onnxruntime profile/);
  });
});

/** Enough of XML to catch what breaks an SVG: unbalanced tags, repeated attributes, bare & and <. */
function assertWellFormedSvg(text: string): void {
  assert.ok(text.startsWith("<svg "), "starts with <svg");
  const stack: string[] = [];
  for (const m of text.matchAll(/<(\/?)([a-zA-Z]+)([^>]*?)(\/?)>/g)) {
    const [, closing, tag, attributes, selfClosing] = m;
    const names = [...attributes.matchAll(/\s([\w:-]+)="[^"]*"/g)].map((a) => a[1]);
    assert.equal(new Set(names).size, names.length, `repeated attribute in <${tag}${attributes}>`);
    if (closing) assert.equal(stack.pop(), tag, `</${tag}> closes something else`);
    else if (!selfClosing) stack.push(tag);
  }
  assert.deepEqual(stack, [], "every tag is closed");
  const outsideTags = text.replace(/<[^>]*>/g, "");
  assert.ok(!/&(?!(lt|gt|amp|quot|apos);)/.test(outsideTags), "no bare & in text");
}

describe("report", () => {
  const count = linearLayer();
  const plan = (id: string, stage: NetworkPlan["stage"], calls: number): NetworkPlan => ({
    id,
    graph: id,
    stage,
    build: () => {
      throw new Error("not built again");
    },
    inputs: { x: [1, 1024] },
    callsPerImage: calls,
  });
  const plans = [
    plan("text_encoder", "text-encoder", 2),
    plan("unet", "unet", 10),
    plan("vae_decoder", "decoder", 1),
  ];
  const counts = new Map(plans.map((p) => [p.id, count]));
  const timing = (seconds: number): NetworkTiming => ({
    runs: 1,
    secondsPerCall: seconds,
    kernelSeconds: seconds * 0.9,
    byKind: { conv: 0, matmul: seconds * 0.9, attention: 0, norm: 0, elementwise: 0, resample: 0, layout: 0 },
    sessionSeconds: 1,
  });
  const peak: MachinePeak = {
    matmulFlopsPerSecond: 100e9,
    memoryBytesPerSecond: 10e9,
    lastLevelCacheBytes: 2048,
    cacheSource: "test",
    cpuFlags: ["avx2", "fma"],
    machine: {
      cpuModel: "Test CPU",
      logicalCpus: 2,
      simd: ["avx2", "fma"],
      totalMemoryBytes: 1,
      platform: "test",
      node: "v20",
      onnxruntime: "1.30.0",
    },
    measuredSeconds: 1,
  };
  const settings = profileSettings({ steps: 10 });
  const report = buildProfileReport({
    model: "test <model> & co",
    optionsLabel: "--fast",
    settings,
    plans,
    counts,
    timings: new Map([
      ["text_encoder", timing(0.01)],
      ["unet", timing(0.1)],
      ["vae_decoder", timing(0.5)],
    ]),
    peak,
    hardware: [machine(8192), loadHardware("npu-8k-mac")],
    createdAt: new Date(0),
  });

  it("adds up calls per image, time shares and the roofline placement", () => {
    const [te, unet, dec] = report.stages;
    assert.deepEqual([te.calls, unet.calls, dec.calls], [2, 10, 1]);
    assert.equal(unet.total.macs, 10 * count.total.macs);
    assert.ok(Math.abs((report.image.measuredSeconds ?? 0) - 1.52) < 1e-12);
    assert.ok(Math.abs((unet.share ?? 0) - 1 / 1.52) < 1e-12);
    // the 1 MB of weights do not fit in the 2 KB cache: streamed each call, so the
    // intensity is about 2 FLOPs per 4-byte weight, far below the ridge of 10 FLOP/B
    const placed = unet.machine;
    assert.ok(placed && placed.bound === "bandwidth" && placed.intensity < 1, JSON.stringify(placed));
    const achieved = unet.total.flops / 1.0;
    assert.ok(Math.abs(placed.achievedFlopsPerSecond - achieved) < 1e-3);
    assert.ok(Math.abs(placed.percentOfAttainable - (100 * achieved) / (placed.intensity * 10e9)) < 1e-9);
    // what-if: images/s is the inverse of the per-image time, shares add up to 1
    const npu = report.image.hardware["NPU 8K MAC"];
    assert.ok(Math.abs(npu.imagesPerSecond * npu.seconds - 1) < 1e-12);
    const shares = report.stages.reduce((n, s) => n + s.hardware["NPU 8K MAC"].share, 0);
    assert.ok(Math.abs(shares - 1) < 1e-12);
    // the NPU's 8 MB holds the 1 MB of weights: loaded once per image, not per call
    assert.equal(report.networks[1].hardware["NPU 8K MAC"].weightsResident, true);
  });

  it("prints one table per network, the summary and the what-ifs; writes well-formed SVG", () => {
    const text = profileText(report);
    assert.match(text, /## unet \(unet\): 10 calls per image; x \[1, 1024\]/);
    assert.match(text, /# Whole image: 512x512, 10 steps, CFG 1, --fast/);
    assert.match(text, /measured peak: matmul 100\.0 GFLOP\/s, memory 10\.0 GB\/s, ridge 10\.0 FLOP\/B/);
    assert.match(
      hardwareTable(report, "NPU 8K MAC"),
      /6\.14 TMAC\/s, 8\.4 MB on chip, 12\.0 GB\/s DRAM, 1 B\/weight, 1 B\/activation/,
    );
    assert.match(text, /Assumptions \(docs\/profile\.md\):/);
    for (const chart of [stagesChart(report), rooflineChart(report)]) {
      assertWellFormedSvg(chart);
      assert.ok(chart.includes("test &lt;model&gt; &amp; co"), "the title is escaped");
    }
    assert.ok(rooflineChart(report).includes("this machine (measured): 100 GFLOP/s, 10.0 GB/s"));
  });
});
