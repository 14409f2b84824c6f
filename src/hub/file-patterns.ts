/**
 * allow/ignore patterns with the semantics of huggingface_hub's `filter_repo_objects`: Python
 * `fnmatch` on the whole repo path (so `*` also crosses "/"), and a pattern ending in "/" means
 * everything under that folder. Kept identical so patterns behave as users know them from Python.
 */

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** Python's `fnmatch.translate`: `*`, `?`, `[seq]` and `[!seq]`; anything else literal. */
export function fnmatchToRegex(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") {
      out += ".*";
    } else if (c === "?") {
      out += ".";
    } else if (c === "[") {
      let j = i + 1;
      if (pattern[j] === "!") j++;
      if (pattern[j] === "]") j++;
      while (j < pattern.length && pattern[j] !== "]") j++;
      if (j >= pattern.length) {
        out += "\\[";
      } else {
        let body = pattern.slice(i + 1, j).replace(/\\/g, "\\\\");
        if (body.startsWith("!")) body = `^${body.slice(1)}`;
        else if (body.startsWith("^")) body = `\\${body}`;
        out += `[${body}]`;
        i = j;
      }
    } else {
      out += escapeRegex(c);
    }
  }
  return new RegExp(`^${out}$`, "s");
}

function compile(patterns: string | readonly string[] | undefined): RegExp[] | undefined {
  if (patterns === undefined) return undefined;
  const list = typeof patterns === "string" ? [patterns] : patterns;
  return list.map((p) => fnmatchToRegex(p.endsWith("/") ? `${p}*` : p));
}

/** Keeps the paths matching any allow pattern (all when none given) and no ignore pattern. */
export function filterRepoFiles(
  paths: readonly string[],
  allowPatterns?: string | readonly string[],
  ignorePatterns?: string | readonly string[],
): string[] {
  const allow = compile(allowPatterns);
  const ignore = compile(ignorePatterns) ?? [];
  return paths.filter(
    (path) =>
      (allow === undefined || allow.some((re) => re.test(path))) && !ignore.some((re) => re.test(path)),
  );
}
