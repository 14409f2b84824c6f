/** Whether a model's networks fit together (no file system: shared by the Node and browser loaders). */
import type { TaesdConfig, TextEncoderConfig, UNetConfig, VaeConfig } from "./architecture/model-config.js";
import { ModelLoadError } from "./model-load-error.js";

/** The components must fit together: text width = cross-attention width, latent channels agree. */
export function checkCompatible(
  path: string,
  unet: UNetConfig,
  textEncoder: TextEncoderConfig,
  vae: VaeConfig,
  taesd?: TaesdConfig,
): void {
  const fail = (msg: string): never => {
    throw new ModelLoadError("unsupported-config", path, msg);
  };
  if (textEncoder.hiddenSize !== unet.crossAttentionDim) {
    fail(
      `text encoder width ${textEncoder.hiddenSize} != UNet cross-attention dim ${unet.crossAttentionDim}`,
    );
  }
  const latent = vae.latentChannels;
  if (unet.outChannels !== latent || (unet.inChannels !== latent && unet.inChannels !== 2 * latent + 1)) {
    fail(
      `UNet in/out channels ${unet.inChannels}/${unet.outChannels} do not fit a VAE with ${latent} latent channels`,
    );
  }
  if (taesd && taesd.latentChannels !== latent) {
    fail(`TAESD has ${taesd.latentChannels} latent channels, the VAE ${latent}`);
  }
}
