/**
 * Tells a dropped `.safetensors` file's kind from its header alone (the first 8 + N bytes; the
 * tensors are never read): an SD checkpoint, a LoRA/LyCORIS file, TAESD weights, a textual-inversion
 * embedding, or something else.
 */
import { isTaesdTensorNames } from "../../../src/weights/key-maps/taesd-key-map.js";

export type SafetensorsKind = "checkpoint" | "lora" | "taesd" | "embedding" | "other";

/** A header larger than this is not a model the tab could run anyway. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** From the tensor names: LDM checkpoints hold `model.diffusion_model.*`, LoRAs `lora_*`/`.lora_A.` names, TAESD its own (taesd-key-map.ts). */
export function kindFromTensorNames(names: readonly string[]): SafetensorsKind {
  if (
    names.some(
      (n) =>
        /(^|\.)(lora_(up|down|A|B)|hada_w1_a|lokr_w1|alpha)(\.|$)|lora\.(up|down)\./.test(n) ||
        n.startsWith("lora_"),
    )
  ) {
    return "lora";
  }
  if (names.some((n) => n.startsWith("model.diffusion_model."))) return "checkpoint";
  if (isTaesdTensorNames(names)) return "taesd";
  return "other";
}

/**
 * An embedding as src/embeddings/embedding-tensors.ts reads one: a single tensor of vectors (1-D or
 * [vectors, width]), or SDXL's clip_g + clip_l pair.
 */
export function isEmbeddingHeader(shapes: Readonly<Record<string, readonly number[]>>): boolean {
  const names = Object.keys(shapes);
  if (names.length === 2 && "clip_g" in shapes && "clip_l" in shapes) return true;
  return names.length === 1 && shapes[names[0]].length >= 1 && shapes[names[0]].length <= 2;
}

/** Each tensor's shape, from the header. */
export async function safetensorsShapes(file: Blob): Promise<Record<string, readonly number[]>> {
  if (file.size < 8) throw new Error("too short to be a .safetensors file");
  const head = new DataView(await file.slice(0, 8).arrayBuffer());
  const length = Number(head.getBigUint64(0, true));
  if (length < 2 || length > MAX_HEADER_BYTES || 8 + length > file.size) {
    throw new Error("not a .safetensors file (its header length makes no sense)");
  }
  let header: unknown;
  try {
    header = JSON.parse(await file.slice(8, 8 + length).text());
  } catch {
    throw new Error("not a .safetensors file (its header is not JSON)");
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) {
    throw new Error("not a .safetensors file (its header is not a JSON object)");
  }
  const shapes: Record<string, readonly number[]> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const shape = (entry as { shape?: unknown } | null)?.shape;
    shapes[name] = Array.isArray(shape) ? shape.filter((d): d is number => typeof d === "number") : [];
  }
  return shapes;
}

export async function safetensorsKind(file: Blob): Promise<SafetensorsKind> {
  const shapes = await safetensorsShapes(file);
  const kind = kindFromTensorNames(Object.keys(shapes));
  return kind === "other" && isEmbeddingHeader(shapes) ? "embedding" : kind;
}
