/**
 * Network factories by role. openPipeline builds each network it needs with buildNetwork: from
 * weights, the first factory of the role that accepts the component's config (one without
 * `accepts` takes any); from an ONNX folder, the first that can run one.
 *
 * To add a network architecture (say, another text encoder): write its factory beside these and
 * put it before the general entry of its role. To tune for another backend: add an execution
 * provider entry (../graph-variant.ts); every factory gets its variant through the context.
 */
import type { NetworkContext, NetworkFactory, NetworkWeights } from "./network-factory.js";
import { TAESD_DECODER, type TaesdFactory } from "./taesd.js";
import { CLIP_TEXT_ENCODER, type TextEncoderFactory } from "./text-encoder.js";
import { SD_UNET, type UNetFactory } from "./unet.js";
import { AUTOENCODER_KL, type VaeFactory } from "./vae.js";

export const NETWORK_FACTORIES: {
  readonly textEncoder: readonly TextEncoderFactory[];
  readonly unet: readonly UNetFactory[];
  readonly vae: readonly VaeFactory[];
  readonly taesd: readonly TaesdFactory[];
} = {
  textEncoder: [CLIP_TEXT_ENCODER],
  unet: [SD_UNET],
  vae: [AUTOENCODER_KL],
  taesd: [TAESD_DECODER],
};

/** What the loader found for one network. */
export type NetworkSource<C, O> =
  | { readonly kind: "weights"; readonly weights: NetworkWeights<C> }
  | { readonly kind: "onnx"; readonly onnx: O };

export function buildNetwork<C, O, S, Out>(
  factories: readonly NetworkFactory<C, O, S, Out>[],
  source: NetworkSource<C, O>,
  ctx: NetworkContext,
  settings: S,
): Out {
  if (source.kind === "weights") {
    const config = source.weights.component.config;
    const factory = factories.find((f) => !f.accepts || f.accepts(config));
    if (!factory) throw new Error(`${ctx.modelPath}: no network factory accepts this config`);
    return factory.fromWeights(source.weights, ctx, settings);
  }
  const factory = factories.find((f) => f.fromOnnx);
  if (!factory?.fromOnnx) throw new Error(`${ctx.modelPath}: this network cannot come from an ONNX model`);
  return factory.fromOnnx(source.onnx, ctx, settings);
}
