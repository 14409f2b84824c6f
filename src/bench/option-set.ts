/**
 * Engine options as the bench takes them: flat `key=value` pairs naming EngineOptions fields
 * (`deepCacheInterval=3`, whichever record the field lives in), so a speed option benchmarks as
 * soon as the engine has it, without a bench change. Values read as booleans or numbers where they
 * look like one, else as strings; a list field takes names joined with "+" (`executionProviders=webgpu+cpu`).
 */
import { type EngineOptions, engineOptionFields, engineOptionsFromFlat } from "../engine/engine-options.js";

export type OptionValue = string | number | boolean;
export type OptionSet = Readonly<Record<string, OptionValue>>;

/** Keys the bench itself sets from its own inputs (the TAESD path is one of its arguments). */
const RESERVED = new Set([
  "taesd",
  ...engineOptionFields()
    .filter((f) => f.kind === "object")
    .map((f) => f.name),
]);

/** The EngineOptions fields a key=value pair can set: every one of the type's scalar fields. */
export const KNOWN_ENGINE_OPTIONS: readonly string[] = engineOptionFields()
  .map((f) => f.name)
  .filter((name) => !RESERVED.has(name));

function parseValue(text: string): OptionValue {
  if (text === "true") return true;
  if (text === "false") return false;
  if (/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(text)) return Number(text);
  return text;
}

/** "key=value" → [key, value]. */
export function parseOption(arg: string): [string, OptionValue] {
  const eq = arg.indexOf("=");
  const key = eq < 0 ? "" : arg.slice(0, eq).trim();
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
    throw new Error(`engine option ${JSON.stringify(arg)} is not key=value (e.g. attention=matmul)`);
  if (RESERVED.has(key)) throw new Error(`engine option "${key}" is set by the bench itself`);
  return [key, parseValue(arg.slice(eq + 1).trim())];
}

/** "a=1,b=x" → { a: 1, b: "x" }; "" or "default" → {}. */
export function parseOptionList(text: string): Record<string, OptionValue> {
  const trimmed = text.trim();
  if (trimmed === "" || trimmed === "default") return {};
  return Object.fromEntries(trimmed.split(",").map((part) => parseOption(part)));
}

/** "default" for no options, else the options sorted by key: "attention=matmul,decoder=taesd". */
export function optionSetLabel(options: OptionSet): string {
  const keys = Object.keys(options).sort();
  if (keys.length === 0) return "default";
  return keys.map((k) => `${k}=${options[k]}`).join(",");
}

export function unknownOptions(options: OptionSet): string[] {
  return Object.keys(options).filter((k) => !KNOWN_ENGINE_OPTIONS.includes(k));
}

/** An option set as openPipeline takes it, each key in its record. Unknown keys are refused. */
export function engineOptionsFromSet(options: OptionSet): EngineOptions {
  const lists = new Set(
    engineOptionFields()
      .filter((f) => f.kind === "strings")
      .map((f) => f.name),
  );
  const values = Object.fromEntries(
    Object.entries(options).map(([k, v]) => [k, lists.has(k) ? String(v).split("+") : v]),
  );
  return engineOptionsFromFlat(values);
}
