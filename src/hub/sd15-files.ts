/**
 * Which files of a diffusers Stable Diffusion 1.x repo sdlite needs: model_index.json, each
 * component's config/tokenizer/scheduler files and one set of weights per component — the way
 * diffusers' `from_pretrained` picks them: `.safetensors` over `.bin`, the `fp16` variant when
 * asked (falling back to the plain files), sharded sets as index + shards. Skipped: the safety
 * checker and its feature extractor, the single-file checkpoints at the repo root, EMA/non-EMA
 * extras, ONNX and Flax weights unless asked. Pure: works on the repo's path list.
 */

export interface Sd15FileOptions {
  /** Prefer the `fp16` variant (`*.fp16.safetensors`) where a component has one. */
  fp16?: boolean;
  /** Also take ONNX models (`*.onnx` and their external data), e.g. for an ONNX pipeline repo. */
  onnx?: boolean;
  /** Also take Flax weights (`*.msgpack`). */
  flax?: boolean;
  safetyChecker?: boolean;
  /** The repo's model_index.json, if already known: then only the components it declares are taken. */
  modelIndex?: Record<string, unknown>;
}

export interface Sd15FileSelection {
  files: string[];
  /** Components that got config files but no weights in the requested formats. */
  componentsWithoutWeights: string[];
}

/** Every component an SD1.x pipeline (PyTorch or ONNX) can have. */
const SD_COMPONENTS = [
  "unet",
  "vae",
  "vae_encoder",
  "vae_decoder",
  "text_encoder",
  "tokenizer",
  "scheduler",
  "safety_checker",
  "feature_extractor",
];
const SAFETY_COMPONENTS = new Set(["safety_checker", "feature_extractor"]);
/** Components with no weights of their own. */
const WEIGHTLESS = new Set(["tokenizer", "scheduler", "feature_extractor"]);

type Format = "safetensors" | "bin" | "onnx" | "flax";

interface WeightFile {
  path: string;
  format: Format;
  /** "" for the default weights, else e.g. "fp16", "non_ema". */
  variant: string;
}

const ONNX_DATA = /(\.onnx_data|\.onnx\.data|\.pb)$/;

/**
 * Reads format and variant from a weight file name: `name[.variant].ext`, a shard
 * `name[.variant]-00001-of-00002.ext`, or an index `name.ext.index[.variant].json`.
 */
export function classifyWeightFile(path: string): WeightFile | undefined {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const index = /^[^.]+\.(safetensors|bin)\.index(?:\.([\w-]+))?\.json$/.exec(name);
  if (index) return { path, format: index[1] as Format, variant: index[2] ?? "" };
  const weights =
    /^[^.]+(?:\.([\w-]+?))?(?:-\d{5}-of-\d{5})?\.(safetensors|bin|ckpt|pt|pth|msgpack|onnx)$/.exec(name);
  if (weights) {
    const ext = weights[2];
    const format: Format =
      ext === "safetensors" ? "safetensors" : ext === "msgpack" ? "flax" : ext === "onnx" ? "onnx" : "bin";
    return { path, format, variant: weights[1] ?? "" };
  }
  if (ONNX_DATA.test(name)) return { path, format: "onnx", variant: "" };
  return undefined;
}

function isConfigFile(name: string): boolean {
  return /\.(json|txt)$/.test(name) && !/\.index(\.[\w-]+)?\.json$/.test(name);
}

function declaredComponents(modelIndex: Record<string, unknown> | undefined, present: Set<string>): string[] {
  if (!modelIndex) return SD_COMPONENTS.filter((c) => present.has(c));
  return Object.entries(modelIndex)
    .filter(
      ([key, value]) =>
        !key.startsWith("_") && Array.isArray(value) && value[0] !== null && value[1] !== null,
    )
    .map(([key]) => key)
    .filter((c) => present.has(c));
}

/** The (format, variant) sets to try in order: safetensors first, the fp16 variant first when asked. */
function preferenceOrder(fp16: boolean): Array<[Format, string]> {
  const variants = fp16 ? ["fp16", ""] : ["", "fp16"]; // a repo with only fp16 weights still gets them
  const order: Array<[Format, string]> = [];
  for (const format of ["safetensors", "bin"] as const) for (const v of variants) order.push([format, v]);
  return order;
}

export function selectSd15Files(paths: readonly string[], options: Sd15FileOptions = {}): Sd15FileSelection {
  if (!paths.includes("model_index.json")) {
    throw new Error("not a diffusers pipeline repo: it has no model_index.json");
  }
  const byComponent = new Map<string, string[]>();
  for (const path of paths) {
    const parts = path.split("/");
    if (parts.length !== 2) continue; // root files are single-file checkpoints/docs; deeper ones are extras
    const list = byComponent.get(parts[0]) ?? [];
    list.push(path);
    byComponent.set(parts[0], list);
  }
  const components = declaredComponents(options.modelIndex, new Set(byComponent.keys())).filter(
    (c) => options.safetyChecker || !SAFETY_COMPONENTS.has(c),
  );

  const files = ["model_index.json"];
  const componentsWithoutWeights: string[] = [];
  for (const component of components) {
    const inFolder = byComponent.get(component) ?? [];
    files.push(...inFolder.filter((p) => isConfigFile(p.slice(component.length + 1))));
    if (WEIGHTLESS.has(component)) continue;

    const weights = inFolder.map(classifyWeightFile).filter((w): w is WeightFile => w !== undefined);
    const before = files.length;
    const torch = preferenceOrder(options.fp16 ?? false)
      .map(([format, variant]) => weights.filter((w) => w.format === format && w.variant === variant))
      .find((set) => set.length > 0);
    if (torch) files.push(...torch.map((w) => w.path));
    if (options.onnx) files.push(...weights.filter((w) => w.format === "onnx").map((w) => w.path));
    if (options.flax)
      files.push(...weights.filter((w) => w.format === "flax" && w.variant === "").map((w) => w.path));
    if (files.length === before) componentsWithoutWeights.push(component);
  }
  return { files, componentsWithoutWeights };
}
