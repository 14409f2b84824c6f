/**
 * `sdlite cache ls|verify|clear`: the built graphs and saved optimised models under the sdlite
 * cache folder ($SDLITE_CACHE, else $XDG_CACHE_HOME/sdlite, else ~/.cache/sdlite). Every run
 * checks an entry's sizes and sampled bytes (and all bytes of a file that changed) before using
 * it; `verify` reads every byte, removes damaged entries (the next run rebuilds them) and exits
 * with status 1 when it found any.
 */
import type { Command } from "commander";
import {
  type CacheEntryInfo,
  cacheInventory,
  checkCacheEntry,
  clearCache,
  removeCacheEntry,
} from "../../cache/cache-inventory.js";
import { defaultCacheRoot } from "../../cache/graph-cache.js";
import { formatBytes, formatTable } from "../format.js";

interface JsonOption {
  json?: boolean;
}

function entryName(e: CacheEntryInfo): string {
  return `${e.cache}/${e.key}`;
}

function print(value: unknown, json: boolean | undefined, text: () => string[]): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text().join("\n")}\n`);
}

function runLs(o: JsonOption): void {
  const inventory = cacheInventory(defaultCacheRoot());
  const total =
    inventory.entries.reduce((n, e) => n + e.bytes, 0) +
    inventory.temporary.reduce((n, t) => n + t.bytes, 0) +
    (inventory.hashFile?.bytes ?? 0);
  print({ ...inventory, bytes: total }, o.json, () => {
    const out = [`sdlite cache: ${inventory.root}`];
    if (inventory.entries.length === 0) out.push("  (no entries)");
    else {
      const rows = inventory.entries.map((e) => [entryName(e), formatBytes(e.bytes), e.createdAt ?? "?"]);
      out.push(formatTable([["ENTRY", "SIZE", "CREATED"], ...rows]));
    }
    for (const t of inventory.temporary) out.push(`temporary folder ${t.dir} (${formatBytes(t.bytes)})`);
    if (inventory.hashFile) out.push(`model hashes: ${inventory.hashFile.path}`);
    out.push(`total ${formatBytes(total)}`);
    return out;
  });
}

function runVerify(o: JsonOption): void {
  const root = defaultCacheRoot();
  const results = cacheInventory(root).entries.map((entry) => {
    const check = checkCacheEntry(root, entry, "full");
    // a damaged entry would be trusted again while its stamps stay the same: gone, it is rebuilt
    if (check.state !== "ok") removeCacheEntry(entry);
    return {
      entry: entryName(entry),
      state: check.state,
      ...(check.state === "damaged" ? { reason: check.reason } : {}),
    };
  });
  const damaged = results.filter((r) => r.state === "damaged").length;
  print({ root, entries: results, damaged }, o.json, () => [
    `sdlite cache: ${root}`,
    ...results.map((r) =>
      r.state === "ok"
        ? `ok       ${r.entry}`
        : r.state === "damaged"
          ? `damaged  ${r.entry}: ${r.reason} (removed; rebuilt when next used)`
          : `outdated ${r.entry}: written by an older sdlite without content digests (removed; rebuilt when next used)`,
    ),
    `${results.length} entries checked, ${damaged} damaged`,
  ]);
  if (damaged > 0) process.exitCode = 1;
}

function runClear(o: JsonOption): void {
  const root = defaultCacheRoot();
  const cleared = clearCache(root);
  print({ root, ...cleared }, o.json, () => [
    `removed ${cleared.entries} entries (${formatBytes(cleared.bytes)}) from ${root}`,
    ...(cleared.keptTemporary > 0
      ? [
          `kept ${cleared.keptTemporary} temporary folder(s) younger than a day: another sdlite may be writing them`,
        ]
      : []),
  ]);
}

export function registerCacheCommand(program: Command): void {
  const cache = program
    .command("cache")
    .description("list, verify or clear sdlite's cache of built graphs and optimised models")
    .addHelpText(
      "after",
      "\nThe cache folder: $SDLITE_CACHE, else $XDG_CACHE_HOME/sdlite, else ~/.cache/sdlite.",
    );
  cache
    .command("ls")
    .description("list the cache's entries and their sizes")
    .option("--json", "one JSON object on stdout")
    .action(runLs);
  cache
    .command("verify")
    .description("check every byte of every entry against its SHA-256; remove damaged ones (exit 1 if any)")
    .option("--json", "one JSON object on stdout")
    .action(runVerify);
  cache
    .command("clear")
    .description(
      "remove every entry, the start-up hints and the model-hash file (models and images are never touched)",
    )
    .option("--json", "one JSON object on stdout")
    .action(runClear);
}
