/**
 * DeepCache's two halves over runtime sessions: the UNet graph built with its deep-feature output,
 * and the shallow branch that takes that feature as an input (graph/unet-deepcache.ts).
 */
import type { DeepCacheNetworks, DeepFeature } from "../pipeline/deep-cache.js";
import type { Shape4 } from "../pipeline/networks.js";
import type { TensorData } from "../runtime/runtime.js";
import type { LazySession } from "./lazy-session.js";
import { timestepCondFeed, type UNetIo } from "./session-networks.js";

export interface DeepCacheIo extends Omit<UNetIo, "timestepType" | "latentSides"> {
  /** The full graph's extra output and the shallow graph's extra input. */
  feature: string;
}

function floatOutput(result: Record<string, TensorData>, name: string): Float32Array {
  const t = result[name];
  if (!t || !(t.data instanceof Float32Array))
    throw new Error(`the model produced no float output "${name}"`);
  return t.data;
}

export class SessionDeepCacheUNet implements DeepCacheNetworks {
  constructor(
    private readonly fullSession: LazySession,
    private readonly shallowSession: LazySession,
    readonly inChannels: number,
    private readonly io: DeepCacheIo,
  ) {}

  get timeCondProjDim(): number | undefined {
    return this.io.timestepCond?.dim;
  }

  private feeds(
    sample: Float32Array,
    shape: Shape4,
    timestep: Float32Array,
    context: Float32Array,
    tokens: number,
    timestepCond: Float32Array | undefined,
  ): Record<string, TensorData> {
    return {
      [this.io.sample]: { dims: shape, data: sample },
      [this.io.timestep]: { dims: [timestep.length], data: timestep },
      [this.io.context]: { dims: [shape[0], tokens, context.length / (shape[0] * tokens)], data: context },
      ...timestepCondFeed(this.io.timestepCond, timestepCond),
    };
  }

  async full(
    sample: Float32Array,
    shape: Shape4,
    timestep: Float32Array,
    context: Float32Array,
    tokens: number,
    timestepCond?: Float32Array,
  ): Promise<{ prediction: Float32Array; feature: DeepFeature }> {
    const s = await this.fullSession.get();
    const { output, feature } = this.io;
    const feeds = this.feeds(sample, shape, timestep, context, tokens, timestepCond);
    const result = await s.run(feeds, [output, feature]);
    return {
      prediction: floatOutput(result, output),
      feature: { data: floatOutput(result, feature), dims: result[feature].dims },
    };
  }

  async shallow(
    sample: Float32Array,
    shape: Shape4,
    timestep: Float32Array,
    context: Float32Array,
    tokens: number,
    feature: DeepFeature,
    timestepCond?: Float32Array,
  ): Promise<Float32Array> {
    const s = await this.shallowSession.get();
    const feeds = {
      ...this.feeds(sample, shape, timestep, context, tokens, timestepCond),
      [this.io.feature]: feature,
    };
    const result = await s.run(feeds, [this.io.output]);
    return floatOutput(result, this.io.output);
  }
}
