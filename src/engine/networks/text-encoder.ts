/**
 * The CLIP text encoder: built from weights with one extra output per clip-skip depth and an input
 * for textual-inversion vectors, or an ONNX folder's text_encoder (last hidden state only, no
 * embeddings).
 */
import {
  buildTextEncoderGraph,
  clipSkipOutput,
  TEXT_ENCODER_EXTRA_TOKENS,
  TEXT_ENCODER_INPUT,
  TEXT_ENCODER_OUTPUT,
  textEncoderGraphExtras,
} from "../../graph/text-encoder.js";
import type { TextEncoderQuantization } from "../../graph/text-encoder-quantization.js";
import type { TextEncoderConfig } from "../../weights/architecture/model-config.js";
import type { OnnxComponent } from "../../weights/loaded-model.js";
import { SessionTextEncoder } from "../session-networks.js";
import {
  type BuiltNetwork,
  builtGraphSession,
  type NetworkFactory,
  onnxFolderSession,
  variantGraphOptions,
} from "./network-factory.js";

export interface TextEncoderSettings {
  /** int8 transformer linears (validated by the caller). */
  readonly quantization: TextEncoderQuantization;
}

export type TextEncoderFactory = NetworkFactory<
  TextEncoderConfig,
  OnnxComponent,
  TextEncoderSettings,
  BuiltNetwork<SessionTextEncoder>
>;

export const CLIP_TEXT_ENCODER: TextEncoderFactory = {
  name: "clip-text-encoder",
  fromWeights(source, ctx, { quantization }) {
    const { config } = source.component;
    const extras = textEncoderGraphExtras(config);
    const { clipSkips } = extras;
    // "none" stays out of the key, so the float graph keeps its cache entry (as for the UNet)
    const int8 = quantization === "none" ? {} : { quantization, int8WeightBits: ctx.int8WeightBits() };
    const options = { ...variantGraphOptions(ctx, source, "textEncoder"), ...extras, ...int8 };
    // its saved optimised model keeps the packed MatMul weights: a warm start maps them instead of
    // packing (SD1.5: 0.41 -> 0.23 s of CPU, +0.34 GB of disk; docs/benchmarks.md, same numbers)
    const session = builtGraphSession(
      ctx,
      source,
      "text_encoder",
      options,
      () => buildTextEncoderGraph(source.weights, config, options),
      { savePrepackedWeights: true },
    );
    const network = new SessionTextEncoder(session, config.hiddenSize, {
      input: TEXT_ENCODER_INPUT,
      outputFor: (k) =>
        k === 1 ? TEXT_ENCODER_OUTPUT : clipSkips.includes(k - 1) ? clipSkipOutput(k - 1) : undefined,
      extraTokens: { name: TEXT_ENCODER_EXTRA_TOKENS, vocabSize: config.vocabSize },
    });
    return { network, sessions: [session] };
  },
  fromOnnx(component, ctx, { quantization }) {
    if (quantization !== "none") {
      throw new Error(
        `${ctx.modelPath}: text encoder quantization rebuilds the text encoder graph, which an ONNX pipeline folder does not allow; use the checkpoint or diffusers folder instead`,
      );
    }
    const session = onnxFolderSession(ctx, component);
    const out = component.outputs.find((o) => o.name === "last_hidden_state") ?? component.outputs[0];
    const hidden = Number(out.shape[2]) || 768;
    const network = new SessionTextEncoder(session, hidden, {
      input: component.inputs[0].name,
      outputFor: (k) => (k === 1 ? out.name : undefined),
    });
    return { network, sessions: [session] };
  },
};
