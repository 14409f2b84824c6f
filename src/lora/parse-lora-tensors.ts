/**
 * A LoRA file's tensors, however they were read (a Node file, a browser Blob), to a LoraFile: the
 * format detected (kohya/A1111 or diffusers/PEFT) and every module resolved onto the model's
 * canonical weights. No I/O: lora-file.ts (Node) and the in-tab engine (web/src/local/) both call it.
 */
import { isDiffusersLoraKey, parseDiffusersLora } from "./diffusers-lora.js";
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

/**
 * `path` is what the LoraFile and errors call the file, `name` its file name (unmatched-key
 * warnings); `model` is the model's weights or a LoraTargets shared by several files. The caller
 * adds the content hashes (file-hashes.ts in Node, a streamed Blob hash in the tab).
 */
export function parseLoraTensors(
  path: string,
  name: string,
  reader: LoraTensorReader,
  model: LoraTargetModel | LoraTargets,
): Omit<LoraFile, "sha256" | "addnetHash"> {
  const targets = model instanceof LoraTargets ? model : new LoraTargets(model);
  const names = reader.names();
  const format = detectLoraFormat(names);
  if (format === undefined) throw new LoraFileError(path, `not a LoRA file: ${describeNonLora(names)}`);
  const parsed =
    format === "kohya" ? parseKohyaLora(name, reader, targets) : parseDiffusersLora(name, reader, targets);
  return { path, format, ...parsed };
}
