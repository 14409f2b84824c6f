/**
 * The A1111 "infotext": the PNG `parameters` text that A1111, Forge, Civitai and friends read.
 *
 *   <prompt, may span lines>
 *   Negative prompt: <negative prompt, may span lines>
 *   Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x512, ...
 *
 * Writing follows modules/processing.py create_infotext: fixed key order, None values left out,
 * values containing ',', ':' or a newline JSON-quoted (infotext_utils.quote), the whole text
 * stripped. Reading follows infotext_utils.parse_generation_parameters: the last line holds the
 * parameters only if at least 3 `Key: value` pairs match in it, every other line is stripped,
 * and a line *starting* with "Negative prompt:" switches to the negative prompt (the words
 * anywhere else are just prompt text).
 */
import { splitFoldedSchedule } from "../schedulers/schedule-types.js";
import type { GenerationRecord, LoraHash, RngSource } from "./generation-record.js";
import { scanInfotextPairs } from "./infotext-pairs.js";

export type InfotextValue = string | number;

export interface ParsedInfotext {
  readonly prompt: string;
  readonly negativePrompt: string;
  /** The `Key: value` pairs of the last line, in order; numbers parsed where they are numbers. */
  readonly parameters: Record<string, InfotextValue>;
}

// ---------------------------------------------------------------- writing

/**
 * infotext_utils.quote: JSON-quote a value holding ',', ':' or a newline. Also quoted here: a value
 * that starts with '"' or whitespace, which A1111 would write bare and then read back altered.
 */
export function quoteInfotextValue(value: string): string {
  return /[,:\n]|^["\s]/.test(value) ? JSON.stringify(value) : value;
}

function formatValue(value: string | number | boolean): string {
  if (typeof value === "boolean") return value ? "True" : "False"; // Python's str(bool)
  if (typeof value === "number") return String(value);
  return quoteInfotextValue(value);
}

/** "name: hash, name2: hash2", the Lora extension's `Lora hashes` value (before quoting). */
export function formatLoraHashes(hashes: readonly LoraHash[]): string {
  return hashes.map((h) => `${h.name}: ${h.hash}`).join(", ");
}

/** The `Key: value` pairs of a record, in A1111's order, without the ones A1111 leaves out. */
export function infotextParameters(record: GenerationRecord): [string, string | number | boolean][] {
  const pairs: [string, string | number | boolean | undefined][] = [
    ["Steps", record.steps],
    ["Sampler", record.sampler],
    ["Schedule type", record.scheduleType],
    ["CFG scale", record.cfgScale],
    ["Seed", record.seed],
    ["Size", `${record.width}x${record.height}`],
    ["Model hash", record.modelHash],
    ["Model", record.model],
    ["Denoising strength", record.denoisingStrength],
    ["Clip skip", record.clipSkip !== undefined && record.clipSkip > 1 ? record.clipSkip : undefined],
    ["RNG", record.rng !== undefined && record.rng !== "GPU" ? record.rng : undefined],
    // A1111 spreads extra_generation_params here; the Lora extension adds its entry late (after
    // hires-fix and script parameters), so it follows the other extras
    ...Object.entries(record.extra ?? {}),
    ["Lora hashes", record.loraHashes?.length ? formatLoraHashes(record.loraHashes) : undefined],
    ["Version", record.version],
  ];
  return pairs.filter((p): p is [string, string | number | boolean] => p[1] !== undefined && p[1] !== "");
}

export function formatInfotext(record: GenerationRecord): string {
  const params = infotextParameters(record)
    .map(([k, v]) => `${k}: ${formatValue(v)}`)
    .join(", ");
  const negative = record.negativePrompt ? `\nNegative prompt: ${record.negativePrompt}` : "";
  return `${record.prompt}${negative}\n${params}`.trim();
}

// ---------------------------------------------------------------- reading

const NUMBER_PATTERN = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/** Keys whose values stay text even when they look like numbers (a hash may be all digits). */
function isTextKey(key: string): boolean {
  return (
    /hash(es)?$/i.test(key) || ["Model", "VAE", "Version", "Sampler", "Schedule type", "RNG"].includes(key)
  );
}

/** infotext_utils.unquote: a "..." value is JSON; when that fails, the raw text. */
function unquote(value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value;
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === "string" ? parsed : value;
  } catch {
    return value;
  }
}

/**
 * A1111's re_param, with Python's Unicode \w; one addition: a bare JSON object value (`Hashes:
 * {"vae": "…", "model": "…"}`, written by Forge and Civitai) is taken whole. See infotext-pairs.ts.
 */
function parameterPairs(line: string): [string, string, boolean][] {
  return scanInfotextPairs(line).map((p) => [p.key, p.value, p.value.startsWith('"')]);
}

/** Parses a `Key: value, Key: value` line; a key that appears twice keeps its last value. */
export function parseInfotextParameters(line: string): Record<string, InfotextValue> {
  const out: Record<string, InfotextValue> = {};
  for (const [key, raw, quoted] of parameterPairs(line)) {
    const value = quoted ? unquote(raw) : raw;
    const numeric =
      !quoted && !isTextKey(key) && NUMBER_PATTERN.test(value) && Number.isFinite(Number(value));
    out[key] = numeric ? Number(value) : value;
  }
  return out;
}

export function parseInfotext(text: string): ParsedInfotext {
  const lines = text.replace(/\r\n?/g, "\n").trim().split("\n");
  let last = lines.pop() ?? "";
  if (parameterPairs(last).length < 3) {
    lines.push(last);
    last = "";
  }
  const prompt: string[] = [];
  const negative: string[] = [];
  let inNegative = false;
  for (let line of lines) {
    line = line.trim();
    if (line.startsWith("Negative prompt:")) {
      inNegative = true;
      line = line.slice("Negative prompt:".length).trim();
    }
    (inNegative ? negative : prompt).push(line);
  }
  return {
    prompt: prompt.join("\n"),
    negativePrompt: negative.join("\n"),
    parameters: parseInfotextParameters(last),
  };
}

// ---------------------------------------------------------------- typed view

/** Splits an old-style "DPM++ 2M Karras" into sampler and schedule; new-style names pass through. */
export const splitSamplerName = splitFoldedSchedule;

/** Reads "name: hash, name2: hash2"; a name may itself contain ':' (the hash is after the last). */
export function parseLoraHashes(value: string): LoraHash[] {
  return value
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      const colon = part.lastIndexOf(":");
      if (colon < 0) return { name: part, hash: "" };
      return { name: part.slice(0, colon).trim(), hash: part.slice(colon + 1).trim() };
    });
}

const KNOWN_KEYS = new Set([
  "Steps",
  "Sampler",
  "Schedule type",
  "CFG scale",
  "Seed",
  "Size",
  "Model hash",
  "Model",
  "Denoising strength",
  "Clip skip",
  "RNG",
  "Lora hashes",
  "Version",
]);

function numberField(p: Record<string, InfotextValue>, key: string): number | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isFinite(n)) throw new RangeError(`infotext: "${key}: ${v}" is not a number`);
  return n;
}

function textField(p: Record<string, InfotextValue>, key: string): string | undefined {
  const v = p[key];
  return v === undefined ? undefined : String(v);
}

/**
 * The typed record behind an infotext, to re-run a generation. Throws when the essentials
 * (Steps, Sampler, CFG scale, Seed, Size) are missing; unknown keys land in `extra`.
 */
export function recordFromInfotext(parsed: ParsedInfotext): GenerationRecord {
  const p = parsed.parameters;
  const missing = ["Steps", "Sampler", "CFG scale", "Seed", "Size"].filter((k) => p[k] === undefined);
  if (missing.length > 0) throw new RangeError(`infotext is missing ${missing.join(", ")}`);
  const size = /^(\d+)x(\d+)$/.exec(String(p.Size));
  if (!size) throw new RangeError(`infotext: "Size: ${p.Size}" is not WIDTHxHEIGHT`);
  const scheduleType = textField(p, "Schedule type");
  const split =
    scheduleType === undefined ? splitSamplerName(String(p.Sampler)) : { sampler: String(p.Sampler) };
  const extra: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(p)) if (!KNOWN_KEYS.has(k)) extra[k] = v;
  const rng = textField(p, "RNG");
  const knownRng = rng === "CPU" || rng === "NV" || rng === "GPU" ? (rng as RngSource) : undefined;
  if (rng !== undefined && knownRng === undefined) extra.RNG = rng; // keep what we do not understand
  const loraHashes = textField(p, "Lora hashes");
  return {
    prompt: parsed.prompt,
    ...(parsed.negativePrompt ? { negativePrompt: parsed.negativePrompt } : {}),
    steps: numberField(p, "Steps")!,
    sampler: split.sampler,
    ...((scheduleType ?? split.scheduleType) !== undefined
      ? { scheduleType: scheduleType ?? split.scheduleType }
      : {}),
    cfgScale: numberField(p, "CFG scale")!,
    seed: numberField(p, "Seed")!,
    width: Number(size[1]),
    height: Number(size[2]),
    ...optional("modelHash", textField(p, "Model hash")),
    ...optional("model", textField(p, "Model")),
    ...optional("denoisingStrength", numberField(p, "Denoising strength")),
    ...optional("clipSkip", numberField(p, "Clip skip")),
    ...optional("rng", knownRng),
    ...optional("loraHashes", loraHashes !== undefined ? parseLoraHashes(loraHashes) : undefined),
    ...optional("version", textField(p, "Version")),
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
