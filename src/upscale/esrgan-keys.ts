/**
 * The original ESRGAN key layout (what A1111 calls the "old arch": `model.0`, `model.1.sub.N.RDB1
 * .conv1.0`, …) renamed to BasicSR's RRDBNet names, so one graph builder serves both. The old
 * model is one nn.Sequential: conv_first, a shortcut over (RRDB × N, conv_body), then per ×2 stage
 * (upsample, conv, LeakyReLU), then conv_hr, LeakyReLU, conv_last — so with n stages the upsample
 * convs sit at 3, 6, …, 3n, conv_hr at 3n+2 and conv_last at 3n+4 (x4: 3, 6, 8, 10).
 */

const OLD_BLOCK = /^model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)$/;
const OLD_TRUNK = /^model\.1\.sub\.(\d+)\.(weight|bias)$/;
const OLD_TOP = /^model\.(\d+)\.(weight|bias)$/;

export function isOldEsrganLayout(names: readonly string[]): boolean {
  return names.includes("model.0.weight") && names.some((n) => OLD_BLOCK.test(n));
}

/**
 * A renaming function for the old layout's keys (undefined for keys it does not know), or a
 * description of what does not fit.
 */
export function oldEsrganRenamer(names: readonly string[]): ((key: string) => string | undefined) | string {
  const top = new Set<number>();
  let trunk = -1;
  for (const n of names) {
    const m = OLD_TOP.exec(n);
    if (m) top.add(Number(m[1]));
    const t = OLD_TRUNK.exec(n);
    if (t) trunk = Math.max(trunk, Number(t[1]));
  }
  const last = Math.max(...top);
  // last = 3n + 4 for n upsample stages
  const stages = (last - 4) / 3;
  if (!Number.isInteger(stages) || stages < 0) {
    return `old-layout ESRGAN whose last layer is model.${last} (expected model.4, .7, .10 or .13 for x1, x2, x4, x8)`;
  }
  const upConvs = new Map<number, number>();
  for (let k = 1; k <= stages; k++) upConvs.set(3 * k, k);
  const expected = [0, ...upConvs.keys(), 3 * stages + 2, last];
  const missing = expected.filter((i) => !top.has(i));
  if (missing.length > 0 || trunk < 0) {
    const what = trunk < 0 ? "model.1.sub.N (the trunk conv)" : missing.map((i) => `model.${i}`).join(", ");
    return `old-layout ESRGAN with ${stages} upsample stage(s) but without ${what}`;
  }
  return (key) => {
    const b = OLD_BLOCK.exec(key);
    if (b) return `body.${b[1]}.rdb${b[2]}.conv${b[3]}.${b[4]}`;
    const t = OLD_TRUNK.exec(key);
    if (t) return Number(t[1]) === trunk ? `conv_body.${t[2]}` : undefined;
    const m = OLD_TOP.exec(key);
    if (!m) return undefined;
    const i = Number(m[1]);
    if (i === 0) return `conv_first.${m[2]}`;
    const up = upConvs.get(i);
    if (up !== undefined) return `conv_up${up}.${m[2]}`;
    if (i === 3 * stages + 2) return `conv_hr.${m[2]}`;
    if (i === last) return `conv_last.${m[2]}`;
    return undefined;
  };
}
