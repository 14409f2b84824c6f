/** Number parsers for commander options: a bad value fails argument parsing with a message naming it. */
import { InvalidArgumentError } from "commander";

export function parseInteger(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isSafeInteger(n)) throw new InvalidArgumentError("not an integer.");
  return n;
}

export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError("not a number.");
  return n;
}

/** A ToMe merge ratio: a fraction of the tokens, in [0, 1). */
export function parseTomeRatio(value: string): number {
  const n = parseNumber(value);
  if (!(n >= 0 && n < 1)) throw new InvalidArgumentError("not a ratio in [0, 1) (tomesd's default is 0.5).");
  return n;
}

/** A ToDo downsampling factor: a number >= 1 (1 = off). */
export function parseTodoFactor(value: string): number {
  const n = parseNumber(value);
  if (!(n >= 1)) throw new InvalidArgumentError("not a factor >= 1 (1 = off; the reference recommends 2).");
  return n;
}

/** For repeatable options: each occurrence is appended. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
