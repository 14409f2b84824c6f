/**
 * Engine options as the bench takes them: `key=value` pairs passed to openPipeline's EngineOptions
 * as they are, so a speed option benchmarks as soon as the engine accepts it, without a bench
 * change. Values read as booleans or numbers where they look like one, else as strings.
 */

export type OptionValue = string | number | boolean;
export type OptionSet = Readonly<Record<string, OptionValue>>;

/**
 * EngineOptions keys this bench has seen; any other key is still passed through (a newer engine
 * option), and the CLI warns so a typo does not silently benchmark the default.
 */
export const KNOWN_ENGINE_OPTIONS: readonly string[] = [
  "threads",
  "lowMemory",
  "attention",
  "decoder",
  "tileLatentSize",
  "vae",
  "variant",
  "deepCacheInterval",
  "unetQuantization",
  "weightStorage",
];

/** Keys the bench itself sets from its own inputs. */
const RESERVED = new Set(["cache", "runtime", "taesd", "loras", "overrides"]);

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
