/**
 * Wall-clock time per generation stage and the denoising rate. Two signals from the pipeline:
 * progress events (a stage starts; a denoise event ends a step) and `stageDone` (a network's stage
 * ended). Denoising starts when the stage before it ended. The first step of each batch also pays
 * for the UNet's first run (sessions are created lazily), so the rate is taken over the steps
 * after it whenever there are some.
 */
import type { GenerationProgress, PipelineModels, Stage } from "./generate.js";

export interface TimingSummary {
  /** Milliseconds spent in each stage, all batches together. */
  readonly stages: Partial<Record<Stage, number>>;
  readonly denoiseSteps: number;
  /** Denoising steps per second, 0 before a step is done. */
  readonly stepsPerSecond: number;
}

type NetworkStage = Parameters<NonNullable<PipelineModels["stageDone"]>>[0];

export class StageTimings {
  private stage: Stage | undefined;
  private stageStart = 0;
  private lastEnd: number;
  private readonly totals: Partial<Record<Stage, number>> = {};
  private steps = 0;
  private lastStepAt = 0;
  private steadySteps = 0;
  private steadyMs = 0;
  private firstSteps = 0;
  private firstMs = 0;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.lastEnd = now();
  }

  record(progress: GenerationProgress): void {
    const t = this.now();
    if (progress.stage !== "denoise") {
      this.open(progress.stage, t);
      return;
    }
    if (this.stage !== "denoise") {
      this.open("denoise", this.lastEnd);
      this.firstMs += t - this.lastEnd;
      this.firstSteps++;
    } else {
      this.steadyMs += t - this.lastStepAt;
      this.steadySteps++;
    }
    this.steps++;
    this.lastStepAt = t;
  }

  /** The pipeline's stageDone: the running stage is over. */
  stageDone(_network: NetworkStage): void {
    const t = this.now();
    this.close(t);
    this.lastEnd = t;
  }

  private open(stage: Stage, t: number): void {
    this.close(t);
    this.stage = stage;
    this.stageStart = t;
  }

  private close(t: number): void {
    if (this.stage) this.totals[this.stage] = (this.totals[this.stage] ?? 0) + (t - this.stageStart);
    this.stage = undefined;
  }

  stepsPerSecond(): number {
    if (this.steadySteps > 0 && this.steadyMs > 0) return (this.steadySteps * 1000) / this.steadyMs;
    if (this.firstSteps > 0 && this.firstMs > 0) return (this.firstSteps * 1000) / this.firstMs;
    return 0;
  }

  summary(): TimingSummary {
    return { stages: { ...this.totals }, denoiseSteps: this.steps, stepsPerSecond: this.stepsPerSecond() };
  }
}
