/**
 * The beta distribution's quantile (scipy.stats.beta.ppf), which A1111's "Beta" schedule needs:
 * the regularised incomplete beta function I_x(a, b) by its continued fraction (modified Lentz,
 * Numerical Recipes 3rd ed. §6.4), inverted by Newton's method kept inside a shrinking bracket.
 * Written here rather than imported: the well-kept library for it (@stdlib) brings 233 packages
 * and about 190 KB into a browser bundle for this one function.
 */

const LANCZOS_G = 7;
// Lanczos coefficients for g = 7, n = 9 (relative error below 1e-15 for positive arguments)
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos approximation; reflection below 0.5). */
export function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i] / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b). */
function lnBeta(a: number, b: number): number {
  return lnGamma(a) + lnGamma(b) - lnGamma(a + b);
}

const TINY = 1e-300;
const EPSILON = 1e-16;
const MAX_TERMS = 1000;

/** The continued fraction for I_x(a, b), converging fast for x < (a + 1)/(a + b + 2). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= MAX_TERMS; m++) {
    const m2 = 2 * m;
    // even step
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    // odd step
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) return h;
  }
  throw new Error(`incomplete beta: continued fraction did not converge (a=${a}, b=${b}, x=${x})`);
}

function checkShape(a: number, b: number): void {
  if (!(a > 0 && b > 0 && Number.isFinite(a) && Number.isFinite(b))) {
    throw new RangeError(`beta distribution: a and b must be positive numbers, got a=${a}, b=${b}`);
  }
}

/** The regularised incomplete beta function I_x(a, b) (scipy.special.betainc(a, b, x)). */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  checkShape(a, b);
  if (!(x >= 0 && x <= 1)) throw new RangeError(`incomplete beta: x must lie in [0, 1], got ${x}`);
  if (x === 0 || x === 1) return x;
  const front = Math.exp(a * Math.log(x) + b * Math.log1p(-x) - lnBeta(a, b));
  // the fraction converges for x below the mean-ish point; above it use I_x(a,b) = 1 − I_{1−x}(b,a)
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(a, b, x)) / a;
  return 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** A starting point for the inversion (Numerical Recipes' invbetai first guess). */
function initialGuess(p: number, a: number, b: number): number {
  if (a >= 1 && b >= 1) return Math.min(Math.max(a / (a + b), 1e-3), 1 - 1e-3);
  const t = Math.exp(a * Math.log(a / (a + b))) / a;
  const u = Math.exp(b * Math.log(b / (a + b))) / b;
  const w = t + u;
  return p < t / w ? (a * w * p) ** (1 / a) : 1 - (b * w * (1 - p)) ** (1 / b);
}

/** The x with I_x(a, b) = p: scipy.stats.beta.ppf(p, a, b), for p in [0, 1]. */
export function betaQuantile(p: number, a: number, b: number): number {
  checkShape(a, b);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`beta quantile: p must lie in [0, 1], got ${p}`);
  if (p === 0 || p === 1) return p;
  const logB = lnBeta(a, b);
  let lo = 0;
  let hi = 1;
  let x = initialGuess(p, a, b);
  if (!(x > 0 && x < 1)) x = 0.5;
  for (let i = 0; i < 200; i++) {
    const error = regularizedIncompleteBeta(x, a, b) - p;
    if (error === 0) return x;
    if (error > 0) hi = x;
    else lo = x;
    const density = Math.exp((a - 1) * Math.log(x) + (b - 1) * Math.log1p(-x) - logB);
    let next = x - error / density;
    // Newton's step leaves the bracket near the ends, where the density is steep: bisect instead
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - x) <= 4 * Number.EPSILON * Math.max(x, Number.MIN_VALUE)) return next;
    x = next;
  }
  return x;
}
