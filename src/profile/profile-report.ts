/**
 * The profile as one JSON-ready document: per network (counts per op kind, measured time per op
 * kind, where this machine's roofline puts it, the what-if estimates per hardware file), per stage
 * for one whole image (calls × per-call figures, time shares, images/s), and the assumptions.
 * Pure: counts, timings and the machine's measured peak come in as arguments.
 */
import { arithmeticIntensity, emptyTotals, type NetworkCount, type Totals } from "./count-graph.js";
import { type HardwareSpec, measuredMachineSpec, ridgePoint } from "./hardware.js";
import type { MachinePeak } from "./measure/machine-peak.js";
import type { NetworkTiming } from "./measure/time-networks.js";
import { OP_KINDS, type OpKind } from "./op-kinds.js";
import {
  type NetworkPlan,
  type ProfileSettings,
  STAGE_TITLES,
  STAGES,
  type StageName,
} from "./profile-plan.js";
import { type Bound, estimateNetwork, type NetworkEstimate } from "./traffic-model.js";

export const PROFILE_FORMAT = "sdlite-profile";
export const PROFILE_VERSION = 1;

export interface KindRow extends Totals {
  /** FLOPs per byte when every tensor and weight crosses memory once. */
  readonly intensity: number;
  /** Measured seconds per call, when timed. */
  readonly seconds?: number;
  /** Modelled DRAM bytes per call on this machine, when measured. */
  readonly dramBytes?: number;
}

export interface RooflinePlacement {
  /** Modelled DRAM bytes (per call or per image, as the enclosing record). */
  readonly dramBytes: number;
  /** FLOPs per modelled DRAM byte. */
  readonly intensity: number;
  readonly bound: Bound;
  readonly attainableFlopsPerSecond: number;
  readonly achievedFlopsPerSecond: number;
  readonly percentOfAttainable: number;
  readonly percentOfPeak: number;
}

export interface HardwareEstimate {
  readonly seconds: number;
  readonly dramBytes: number;
  readonly bound: Bound;
  readonly weightsResident: boolean;
}

export interface NetworkReport {
  readonly id: string;
  readonly network: string;
  readonly stage: StageName;
  readonly inputs: Readonly<Record<string, readonly number[]>>;
  readonly callsPerImage: number;
  readonly parameters: number;
  readonly parameterBytes: number;
  readonly peakActivationBytes: number;
  readonly peakAt: string;
  readonly byKind: Readonly<Record<OpKind, KindRow>>;
  readonly total: KindRow;
  readonly timing?: NetworkTiming;
  readonly machine?: RooflinePlacement;
  /** Per call, by hardware name. */
  readonly hardware: Readonly<Record<string, HardwareEstimate>>;
}

export interface StageReport {
  readonly stage: StageName;
  readonly title: string;
  readonly calls: number;
  /** Per image. */
  readonly total: Totals;
  readonly measuredSeconds?: number;
  readonly share?: number;
  readonly machine?: RooflinePlacement;
  readonly hardware: Readonly<Record<string, HardwareEstimate & { imagesPerSecond: number; share: number }>>;
}

export interface MachineReport {
  readonly cpuModel: string;
  readonly logicalCpus: number;
  readonly simd: readonly string[];
  readonly cpuFlags: readonly string[];
  readonly onnxruntime: string;
  readonly executionProviders: readonly string[];
  readonly threads: number;
  readonly matmulFlopsPerSecond: number;
  readonly memoryBytesPerSecond: number;
  readonly lastLevelCacheBytes: number;
  readonly cacheSource: string;
  readonly ridgeFlopsPerByte: number;
}

export interface ProfileReport {
  readonly format: typeof PROFILE_FORMAT;
  readonly version: number;
  readonly createdAt: string;
  readonly model: string;
  /** The engine options as given (e.g. "--fast"), for titles. */
  readonly optionsLabel: string;
  readonly settings: ProfileSettings;
  readonly machine?: MachineReport;
  readonly networks: readonly NetworkReport[];
  readonly stages: readonly StageReport[];
  readonly image: {
    readonly total: Totals;
    readonly measuredSeconds?: number;
    readonly hardware: Readonly<Record<string, { seconds: number; imagesPerSecond: number }>>;
  };
  readonly hardware: readonly HardwareSpec[];
  readonly assumptions: readonly string[];
}

export const ASSUMPTIONS: readonly string[] = [
  "Counts come from the built ONNX graphs at the profiled shapes: a MAC is one multiply-accumulate of a conv, linear or attention product (2 FLOPs); every other elementwise op is 1 FLOP per element, a norm 7, a softmax 5.",
  "Weight bytes are what a call reads after onnxruntime folds constants (fp16-stored weights are read as float32 on CPU); activation bytes count every tensor written once and read once per reader, views (reshapes) free.",
  "Peak activation memory: tensors live from the op that writes them to their last reader, without in-place reuse.",
  "Tiling model (this machine and --hardware): weights stay on chip when all of them fit (loaded once per image), else each call streams every weight from DRAM once; a tensor larger than the on-chip memory left is spilled (written once, read back by each reader); network inputs and outputs always cross DRAM.",
  "Per op, time = max(compute at peak rate, DRAM bytes / bandwidth); ops do not overlap; sizes use the hardware's bytes per element when smaller than the graph's.",
  "This machine's peak is the fastest float32 1024x1024 MatMul kernel and its bandwidth the fastest 64 MB Add kernel (read + write), both through onnxruntime with the same threads; its on-chip memory is the last-level cache.",
];

function kindRows(
  count: NetworkCount,
  timing?: NetworkTiming,
  est?: NetworkEstimate,
): Record<OpKind, KindRow> {
  return Object.fromEntries(
    OP_KINDS.map((k) => [
      k,
      {
        ...count.byKind[k],
        intensity: arithmeticIntensity(count.byKind[k]),
        seconds: timing?.byKind[k],
        dramBytes: est?.byKind[k].dramBytes,
      },
    ]),
  ) as Record<OpKind, KindRow>;
}

function placement(flops: number, dramBytes: number, seconds: number, hw: HardwareSpec): RooflinePlacement {
  const intensity = dramBytes > 0 ? flops / dramBytes : Number.POSITIVE_INFINITY;
  const attainable = Math.min(hw.peakFlopsPerSecond, intensity * hw.dramBytesPerSecond);
  const achieved = seconds > 0 ? flops / seconds : 0;
  return {
    dramBytes,
    intensity,
    bound: intensity >= ridgePoint(hw) ? "compute" : "bandwidth",
    attainableFlopsPerSecond: attainable,
    achievedFlopsPerSecond: achieved,
    percentOfAttainable: (100 * achieved) / attainable,
    percentOfPeak: (100 * achieved) / hw.peakFlopsPerSecond,
  };
}

export interface ReportInput {
  readonly model: string;
  readonly optionsLabel: string;
  readonly settings: ProfileSettings;
  readonly plans: readonly NetworkPlan[];
  readonly counts: ReadonlyMap<string, NetworkCount>;
  readonly timings?: ReadonlyMap<string, NetworkTiming>;
  readonly peak?: MachinePeak;
  readonly executionProviders?: readonly string[];
  readonly threads?: number;
  readonly hardware: readonly HardwareSpec[];
  readonly createdAt?: Date;
}

export function buildProfileReport(input: ReportInput): ProfileReport {
  const local = input.peak ? measuredMachineSpec(input.peak) : undefined;
  const networks: NetworkReport[] = input.plans.map((plan) => {
    const count = input.counts.get(plan.id);
    if (!count) throw new Error(`no count for ${plan.id}`);
    const timing = input.timings?.get(plan.id);
    const localEstimate = local && estimateNetwork(count, local);
    const hardware = Object.fromEntries(
      input.hardware.map((hw) => {
        const e = estimateNetwork(count, hw);
        return [
          hw.name,
          { seconds: e.seconds, dramBytes: e.dramBytes, bound: e.bound, weightsResident: e.weightsResident },
        ];
      }),
    );
    return {
      id: plan.id,
      network: count.network,
      stage: plan.stage,
      inputs: plan.inputs,
      callsPerImage: plan.callsPerImage,
      parameters: count.parameters,
      parameterBytes: count.parameterBytes,
      peakActivationBytes: count.peakActivationBytes,
      peakAt: count.peakAt,
      byKind: kindRows(count, timing, localEstimate),
      total: {
        ...count.total,
        intensity: arithmeticIntensity(count.total),
        seconds: timing?.secondsPerCall,
        dramBytes: localEstimate?.dramBytes,
      },
      timing,
      machine:
        local && localEstimate && timing
          ? placement(count.total.flops, localEstimate.dramBytes, timing.secondsPerCall, local)
          : undefined,
      hardware,
    };
  });
  const stages = stageReports(input, networks, local);
  const imageTotal = emptyTotals();
  for (const s of stages)
    for (const key of Object.keys(imageTotal) as (keyof Totals)[]) imageTotal[key] += s.total[key];
  const measured = stages.every((s) => s.measuredSeconds !== undefined)
    ? stages.reduce((n, s) => n + (s.measuredSeconds ?? 0), 0)
    : undefined;
  const imageHardware = Object.fromEntries(
    input.hardware.map((hw) => {
      const seconds = stages.reduce((n, s) => n + s.hardware[hw.name].seconds, 0);
      return [hw.name, { seconds, imagesPerSecond: 1 / seconds }];
    }),
  );
  const withShares = stages.map((s) => ({
    ...s,
    share:
      measured !== undefined && s.measuredSeconds !== undefined ? s.measuredSeconds / measured : undefined,
    hardware: Object.fromEntries(
      Object.entries(s.hardware).map(([name, h]) => [
        name,
        { ...h, share: h.seconds / imageHardware[name].seconds },
      ]),
    ),
  }));
  const peak = input.peak;
  return {
    format: PROFILE_FORMAT,
    version: PROFILE_VERSION,
    createdAt: (input.createdAt ?? new Date()).toISOString(),
    model: input.model,
    optionsLabel: input.optionsLabel,
    settings: input.settings,
    machine:
      peak && local
        ? {
            cpuModel: peak.machine.cpuModel,
            logicalCpus: peak.machine.logicalCpus,
            simd: peak.machine.simd,
            cpuFlags: peak.cpuFlags,
            onnxruntime: peak.machine.onnxruntime,
            executionProviders: input.executionProviders ?? ["cpu"],
            threads: input.threads ?? 0,
            matmulFlopsPerSecond: peak.matmulFlopsPerSecond,
            memoryBytesPerSecond: peak.memoryBytesPerSecond,
            lastLevelCacheBytes: peak.lastLevelCacheBytes,
            cacheSource: peak.cacheSource,
            ridgeFlopsPerByte: ridgePoint(local),
          }
        : undefined,
    networks,
    stages: withShares,
    image: { total: imageTotal, measuredSeconds: measured, hardware: imageHardware },
    hardware: input.hardware,
    assumptions: ASSUMPTIONS,
  };
}

function stageReports(
  input: ReportInput,
  networks: readonly NetworkReport[],
  local: HardwareSpec | undefined,
): StageReport[] {
  return STAGES.flatMap((stage) => {
    const members = networks.filter((n) => n.stage === stage);
    if (members.length === 0) return [];
    const total = emptyTotals();
    let calls = 0;
    let measured: number | undefined = 0;
    let localDram = 0;
    for (const n of members) {
      calls += n.callsPerImage;
      for (const key of Object.keys(total) as (keyof Totals)[]) total[key] += n.total[key] * n.callsPerImage;
      measured =
        n.timing && measured !== undefined ? measured + n.timing.secondsPerCall * n.callsPerImage : undefined;
      localDram += (n.machine?.dramBytes ?? 0) * n.callsPerImage;
    }
    const hardware = Object.fromEntries(
      input.hardware.map((hw) => {
        let seconds = 0;
        let dramBytes = 0;
        let compute = 0;
        const loaded = new Set<string>();
        for (const n of members) {
          const e = estimateNetwork(input.counts.get(n.id) as NetworkCount, hw);
          seconds += e.seconds * n.callsPerImage;
          dramBytes += e.dramBytes * n.callsPerImage;
          compute += e.computeSeconds * n.callsPerImage;
          // resident weights are loaded once per image, per graph
          if (e.weightsResident && !loaded.has(n.network)) {
            loaded.add(n.network);
            seconds += e.residentWeightBytes / hw.dramBytesPerSecond;
            dramBytes += e.residentWeightBytes;
          }
        }
        const memory = dramBytes / hw.dramBytesPerSecond;
        return [
          hw.name,
          {
            seconds,
            dramBytes,
            bound: (compute >= memory ? "compute" : "bandwidth") as Bound,
            weightsResident: loaded.size > 0,
            imagesPerSecond: 1 / seconds,
            share: 0,
          },
        ];
      }),
    );
    return [
      {
        stage,
        title: STAGE_TITLES[stage],
        calls,
        total,
        measuredSeconds: measured,
        machine:
          local && measured !== undefined ? placement(total.flops, localDram, measured, local) : undefined,
        hardware,
      },
    ];
  });
}
