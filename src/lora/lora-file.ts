/**
 * Reads a LoRA .safetensors file, detects its format (kohya/A1111 or diffusers/PEFT) and resolves
 * every module onto the canonical weights of a model. Keys that fit nothing are returned in
 * `unmatched` (with the file name and the reason) for the caller to surface, never dropped.
 */
import { basename } from "node:path";
import { SafetensorsFile } from "../weights/formats/safetensors.js";
import { isDiffusersLoraKey, parseDiffusersLora } from "./diffusers-lora.js";
import { safetensorsHashes } from "./file-hashes.js";
import { isKohyaKey, parseKohyaLora } from "./kohya-lora.js";
import { type LoraFile, LoraFileError, type LoraFormat, type LoraTensorReader } from "./lora-module.js";
import { type LoraTargetModel, LoraTargets } from "./lora-targets.js";

export function detectLoraFormat(names: readonly string[]): LoraFormat | undefined {
  if (names.some(isKohyaKey)) return "kohya";
  if (names.some(isDiffusersLoraKey)) return "diffusers";
  return undefined;
}

/** What a safetensors file without LoRA keys is, so the error can say more than "no". */
function describeNonLora(names: readonly string[]): string {
  const any = (re: RegExp) => names.some((n) => re.test(n));
  if (any(/^model\.diffusion_model\./))
    return "it is a full Stable Diffusion checkpoint (model.diffusion_model.*)";
  if (any(/^(?:down_blocks|mid_block|up_blocks|conv_in)\./)) return "it is a diffusers UNet/VAE weights file";
  if (any(/^text_model\./)) return "it is a text encoder weights file";
  if (any(/^(?:emb_params|string_to_param|clip_[lg])$/)) return "it is a textual-inversion embedding";
  if (any(/\.(?:hada_|lokr_)/))
    return "it is a LyCORIS LoHa/LoKr network whose module names are not lora_unet_/lora_te_";
  const example = names[0] === undefined ? "it holds no tensors" : `e.g. "${names[0]}"`;
  return `none of its ${names.length} tensors is a LoRA tensor (${example})`;
}

function tensorReader(file: SafetensorsFile): LoraTensorReader {
  return {
    names: () => file.names(),
    read: (name) => ({ shape: file.info(name).shape, data: file.readF32(name) }),
    metadata: file.metadata,
  };
}

/**
 * `model` is either the model's weights (the lookups are built once per call) or a LoraTargets
 * built once and shared by several files.
 */
export function readLoraFile(path: string, model: LoraTargetModel | LoraTargets): LoraFile {
  const name = basename(path);
  const targets = model instanceof LoraTargets ? model : new LoraTargets(model);
  const file = SafetensorsFile.open(path);
  try {
    const names = file.names();
    const format = detectLoraFormat(names);
    if (format === undefined) throw new LoraFileError(path, `not a LoRA file: ${describeNonLora(names)}`);
    const reader = tensorReader(file);
    const parsed =
      format === "kohya" ? parseKohyaLora(name, reader, targets) : parseDiffusersLora(name, reader, targets);
    return { path, format, ...parsed, ...safetensorsHashes(path, file.dataStart) };
  } finally {
    file.close();
  }
}
