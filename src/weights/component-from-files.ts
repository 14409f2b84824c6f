/**
 * A diffusers component from weight files already open: every tensor checked against the list its
 * config implies, wrapped as a WeightsComponent. No file system (diffusers-component.ts finds and
 * opens a folder's files in Node; the browser engine hands Blob-backed files to the same check).
 */
import type { TaesdConfig, TextEncoderConfig, UNetConfig, VaeConfig } from "./architecture/model-config.js";
import { ComponentWeightSource } from "./component-weight-source.js";
import { RenamedTensors, type TensorFile, tensorShapes } from "./formats/tensor-file.js";
import { textEncoderTensorMap } from "./key-maps/clip-key-map.js";
import { taesdTensorNames } from "./key-maps/taesd-key-map.js";
import { unetTensorMap } from "./key-maps/unet-key-map.js";
import { vaeTensorMap } from "./key-maps/vae-key-map.js";
import { validateTensors } from "./key-maps/validate-tensors.js";
import type { WeightsComponent } from "./loaded-model.js";

export type DiffusersComponentKind = "unet" | "vae" | "text_encoder" | "taesd";

export interface ConfigOf {
  unet: UNetConfig;
  vae: VaeConfig;
  text_encoder: TextEncoderConfig;
  taesd: TaesdConfig;
}

export const LABEL: Record<DiffusersComponentKind, string> = {
  unet: "UNet",
  vae: "VAE",
  text_encoder: "text encoder",
  taesd: "TAESD",
};

/** Older diffusers (< 0.14) named the VAE attention projections differently. */
const LEGACY_VAE_ATTENTION: Record<string, string> = {
  query: "to_q",
  key: "to_k",
  value: "to_v",
  proj_attn: "to_out.0",
};

function renameLegacy(kind: DiffusersComponentKind, key: string): string {
  if (kind !== "vae") return key;
  const m =
    /^((?:encoder|decoder)\.mid_block\.attentions\.0)\.(query|key|value|proj_attn)\.(weight|bias)$/.exec(key);
  return m ? `${m[1]}.${LEGACY_VAE_ATTENTION[m[2]]}.${m[3]}` : key;
}

function expectedTensors(kind: DiffusersComponentKind, config: ConfigOf[DiffusersComponentKind]) {
  switch (kind) {
    case "unet":
      return unetTensorMap(config as UNetConfig);
    case "vae":
      return vaeTensorMap(config as VaeConfig);
    case "text_encoder":
      return textEncoderTensorMap(config as TextEncoderConfig);
    case "taesd":
      return taesdTensorNames(config as TaesdConfig);
  }
}

export interface OpenedComponent<C> extends WeightsComponent<C> {
  close(): void;
}

/** Checks an open set of files against a config and wraps them as a component. */
export function componentFromFiles<K extends DiffusersComponentKind>(
  kind: K,
  config: ConfigOf[K],
  files: TensorFile[],
  where: string,
): OpenedComponent<ConfigOf[K]> {
  const expected = expectedTensors(kind, config);
  const found = new Map<string, readonly number[]>();
  for (const f of files)
    for (const [name, shape] of tensorShapes(f)) found.set(renameLegacy(kind, name), shape);
  validateTensors(
    found,
    expected.map((t) => ({ name: t.canonical, shape: t.shape })),
    {
      component: LABEL[kind],
      path: where,
      ignore: kind === "text_encoder" ? /^text_model\.embeddings\.position_ids$/ : undefined,
    },
  );
  const inner = new RenamedTensors(files, (key) => renameLegacy(kind, key));
  const weights = new ComponentWeightSource(inner, expected);
  return {
    kind: "weights",
    config,
    weights,
    files: files.map((f) => f.path),
    storedDtypes: weights.storedDtypes(),
    assumed: {},
    close: () => {
      for (const f of files) f.close();
    },
  };
}
