/** Profile settings for tests: SD1.5's 512x512 without guidance and the engine's defaults, changed where a test says. */
import type { ProfileSettings } from "../../src/profile/profile-plan.js";

export function profileSettings(changes: Partial<ProfileSettings> = {}): ProfileSettings {
  return {
    width: 512,
    height: 512,
    steps: 20,
    guidance: 1,
    attention: "mha",
    unetQuantization: "none",
    int8WeightBits: 8,
    convAlgorithm: "direct",
    deepCacheInterval: 1,
    decoder: "vae",
    tileLatentSize: 64,
    ...changes,
  };
}
