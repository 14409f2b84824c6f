/**
 * Opened pipelines kept between jobs, one per pipeline spec (model, LoRA set, engine settings):
 * opening one builds or loads graphs and fuses LoRA weights, which costs seconds on a real model.
 * Each holds a model's worth of memory, so only the most recently used few stay open; the oldest is
 * closed *before* another is opened. The queue runs one job at a time, so a pipeline is never
 * closed while in use.
 */
import type { OpenedPipeline } from "../engine/open-pipeline.js";
import { type PipelineSpec, pipelineKey } from "../pipeline/job-engine.js";

export type PipelineOpener = (spec: PipelineSpec) => Promise<OpenedPipeline>;

export class PipelinePool {
  /** Insertion order = least recently used first. */
  private readonly open = new Map<string, OpenedPipeline>();

  constructor(
    private readonly opener: PipelineOpener,
    private readonly maxOpen: number,
  ) {
    if (!Number.isInteger(maxOpen) || maxOpen < 1) {
      throw new RangeError(`at least one pipeline must stay open, got ${maxOpen}`);
    }
  }

  get size(): number {
    return this.open.size;
  }

  async acquire(spec: PipelineSpec): Promise<OpenedPipeline> {
    const key = pipelineKey(spec);
    const hit = this.open.get(key);
    if (hit) {
      this.open.delete(key);
      this.open.set(key, hit);
      return hit;
    }
    while (this.open.size >= this.maxOpen) {
      const [oldestKey, oldest] = this.open.entries().next().value as [string, OpenedPipeline];
      this.open.delete(oldestKey);
      await oldest.close();
    }
    const pipeline = await this.opener(spec);
    this.open.set(key, pipeline);
    return pipeline;
  }

  /** The pipeline used last, if one is open. */
  latest(): OpenedPipeline | undefined {
    return [...this.open.values()].at(-1);
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    for (const p of all) await p.close();
  }
}
