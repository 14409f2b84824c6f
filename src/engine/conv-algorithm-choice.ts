/**
 * How each network computes its 3x3 convs when the user did not say (`speed.convAlgorithm` unset):
 * one choice per network, each with its reason (chooseConvAlgorithms). Asked for explicitly, that
 * stands for every network (the UNet's "winograd-f4-shallow" is F(4×4, 3×3) in the VAE and TAESD,
 * which have no marked deepest level), so `--conv-algorithm direct` is the exact form everywhere.
 *
 * The UNet (chooseConvAlgorithm): "winograd-f4-shallow" where it was measured to pay and the
 * memory is there, "direct" everywhere else:
 * - only onnxruntime's CPU provider (first provider "cpu" or none): Winograd on WebGPU and in the
 *   browser's WASM is unmeasured;
 * - only a float32 UNet: the int8 graphs (`--fast`) build their convs in int8 (their float
 *   conv_in/conv_out would change key and numbers for nothing), fp16 compute is unmeasured;
 * - only with at least WINOGRAD_FROM_BYTES of RAM: its transformed weights add 1.47 GB to the
 *   batch-2 step's peak (5.57 vs 4.10 GB, still 2.75 GB under a plain export's 8.32 GB), for
 *   1.30x/1.31x the plain export's step (docs/benchmarks.md, Winograd).
 * Low-memory mode does not enter: it frees networks between stages and gives the same image as
 * without it (test/low-memory.test.ts); below 16 GiB it is direct anyway, above it
 * `--conv-algorithm direct` saves the 1.5 GB. Both forms match diffusers within the fixtures'
 * tolerances (UNet 3.1e-6, direct 6.6e-7, of 1e-4), so the image barely moves between machines.
 *
 * The image codecs (VAE decoder and encoder, TAESD's decoder; chooseConvAlgorithms): the same
 * provider, precision and RAM rules, then CODEC_DEFAULTS, what was measured per network. TAESD is
 * float32 even under `--fast` (int8 UNet), so `--fast` gets its choice too. The browser engine calls
 * assemblePipeline without choices: direct there.
 */

import type { ConvAlgorithm } from "../graph/conv-algorithm.js";
import type { ComputePrecision } from "../graph/float16-compute.js";

/** Installed RAM from which the exact default takes Winograd: its +1.5 GB then leaves room for the rest. */
export const WINOGRAD_FROM_BYTES = 16 * 2 ** 30;

/** The Winograd form the exact default takes where it may (conv-algorithm.ts). */
export const DEFAULT_WINOGRAD: ConvAlgorithm = "winograd-f4-shallow";

export interface ConvAlgorithmChoice {
  readonly algorithm: ConvAlgorithm;
  /** Why, in words (for --json and the bench). */
  readonly reason: string;
}

export interface ConvAlgorithmContext {
  readonly executionProviders: readonly string[] | undefined;
  /** The UNet's quantization ("none" = float). */
  readonly unetQuantization: string;
  readonly attentionQuantization: string;
  /** Unset: the provider's (fp32 on the CPU). */
  readonly precision: ComputePrecision | undefined;
  /** Installed RAM (os.totalmem()). */
  readonly totalMemoryBytes: number;
}

export function chooseConvAlgorithm(
  requested: ConvAlgorithm | undefined,
  c: ConvAlgorithmContext,
): ConvAlgorithmChoice {
  if (requested !== undefined) return { algorithm: requested, reason: "asked for" };
  const provider = c.executionProviders?.[0] ?? "cpu";
  if (provider !== "cpu") return { algorithm: "direct", reason: `${provider}: Winograd is unmeasured there` };
  if (c.unetQuantization !== "none" || c.attentionQuantization !== "none") {
    return { algorithm: "direct", reason: "int8 UNet" };
  }
  if (c.precision === "fp16") return { algorithm: "direct", reason: "fp16 compute" };
  const gib = (c.totalMemoryBytes / 2 ** 30).toFixed(1);
  return c.totalMemoryBytes < WINOGRAD_FROM_BYTES
    ? { algorithm: "direct", reason: `${gib} GiB of RAM` }
    : { algorithm: DEFAULT_WINOGRAD, reason: `${gib} GiB of RAM` };
}

/** The networks with a conv-algorithm choice of their own. */
export type ConvNetwork = "unet" | "vaeDecoder" | "vaeEncoder" | "taesdDecoder";

export type ConvAlgorithmChoices = Readonly<Record<ConvNetwork, ConvAlgorithmChoice>>;

/** The image codecs' conv algorithms as assemblePipeline takes them; each absent one is direct. */
export type CodecConvAlgorithms = Partial<Record<Exclude<ConvNetwork, "unet">, ConvAlgorithm>>;

export interface DecoderConvContext extends ConvAlgorithmContext {
  /** The full VAE decoder's quantization ("none" = float; unset: "none"). */
  readonly vaeQuantization?: string;
}

/**
 * What the exact default takes for each image codec where it may (CPU provider, float32 graph,
 * >= WINOGRAD_FROM_BYTES of RAM), and why; "direct" where Winograd was measured not to pay or not to
 * fit (docs/benchmarks.md, "Winograd in the image decoders").
 */
export const CODEC_DEFAULTS: Readonly<
  Record<Exclude<ConvNetwork, "unet">, { algorithm: ConvAlgorithm; measured: string }>
> = {
  // F4 on the 256- and 512-channel convs below the image's size; the full-resolution layers direct
  vaeDecoder: { algorithm: "winograd-f4-wide", measured: "measured to pay on its 256/512-channel convs" },
  vaeEncoder: { algorithm: "direct", measured: "Winograd unmeasured on the whole encoder" },
  // 64-channel convs: slower and 4x the decode's peak memory under Winograd (1.41x the time, 1371 vs 338 MB)
  taesdDecoder: { algorithm: "direct", measured: "Winograd measured slower on its 64-channel convs" },
};

/** One image codec's choice: the UNet's rules (provider, fp16, RAM), plus int8 for the VAE decoder. */
function chooseCodecConvAlgorithm(
  network: Exclude<ConvNetwork, "unet">,
  requested: ConvAlgorithm | undefined,
  c: DecoderConvContext,
): ConvAlgorithmChoice {
  if (requested !== undefined) return { algorithm: requested, reason: "asked for" };
  const provider = c.executionProviders?.[0] ?? "cpu";
  if (provider !== "cpu") return { algorithm: "direct", reason: `${provider}: Winograd is unmeasured there` };
  if (c.precision === "fp16") return { algorithm: "direct", reason: "fp16 compute" };
  // its block convs are int8 already (their float conv_in/conv_out would change key and numbers for little)
  if (network === "vaeDecoder" && (c.vaeQuantization ?? "none") !== "none") {
    return { algorithm: "direct", reason: "int8 VAE decoder" };
  }
  const gib = (c.totalMemoryBytes / 2 ** 30).toFixed(1);
  if (c.totalMemoryBytes < WINOGRAD_FROM_BYTES) return { algorithm: "direct", reason: `${gib} GiB of RAM` };
  const { algorithm, measured } = CODEC_DEFAULTS[network];
  return { algorithm, reason: algorithm === "direct" ? measured : `${gib} GiB of RAM, ${measured}` };
}

/** Every network's choice: the UNet's (chooseConvAlgorithm) and the image codecs'. */
export function chooseConvAlgorithms(
  requested: ConvAlgorithm | undefined,
  c: DecoderConvContext,
): ConvAlgorithmChoices {
  return {
    unet: chooseConvAlgorithm(requested, c),
    vaeDecoder: chooseCodecConvAlgorithm("vaeDecoder", requested, c),
    vaeEncoder: chooseCodecConvAlgorithm("vaeEncoder", requested, c),
    taesdDecoder: chooseCodecConvAlgorithm("taesdDecoder", requested, c),
  };
}
