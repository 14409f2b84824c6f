/**
 * DeepCache's two halves over runtime sessions: the UNet graph built with its deep-feature output,
 * and the shallow branch that takes that feature as an input (graph/unet-deepcache.ts). Both take
 * the plain UNet's feeds; the shallow one adds the feature.
 */
import type { DeepCacheNetworks, DeepFeature } from "../pipeline/deep-cache.js";
import type { UNetInput } from "../pipeline/networks.js";
import type { DeviceResidentFeeds } from "./device-resident-feeds.js";
import type { LazySession } from "./lazy-session.js";
import { floatOutput, residentUnetFeeds, type UNetIo } from "./session-networks.js";

export interface DeepCacheIo extends Omit<UNetIo, "latentSides"> {
  /** The full graph's extra output and the shallow graph's extra input. */
  feature: string;
}

export class SessionDeepCacheUNet implements DeepCacheNetworks {
  constructor(
    private readonly fullSession: LazySession,
    private readonly shallowSession: LazySession,
    readonly inChannels: number,
    private readonly io: DeepCacheIo,
    /** Keeps the context in device memory across steps (session-networks.ts residentUnetFeeds). */
    private readonly resident?: DeviceResidentFeeds,
  ) {}

  get timeCondProjDim(): number | undefined {
    return this.io.timestepCond?.dim;
  }

  async full(input: UNetInput): Promise<{ prediction: Float32Array; feature: DeepFeature }> {
    const { output, feature } = this.io;
    const s = await this.fullSession.get();
    const result = await s.run(await residentUnetFeeds(this.io, input, this.resident), [output, feature]);
    return {
      prediction: floatOutput(result, output),
      feature: { data: floatOutput(result, feature), dims: result[feature].dims },
    };
  }

  async shallow(input: UNetInput, feature: DeepFeature): Promise<Float32Array> {
    const s = await this.shallowSession.get();
    const feeds = { ...(await residentUnetFeeds(this.io, input, this.resident)), [this.io.feature]: feature };
    const result = await s.run(feeds, [this.io.output]);
    return floatOutput(result, this.io.output);
  }
}
