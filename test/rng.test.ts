/**
 * torch CPU randn (fixtures README 4.2) against goldens/rng.safetensors, plus the pieces it is
 * built from: MT19937, seed normalisation, float32 FMA and the avx_mathfun log/sincos.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { logAvx, sincosAvx } from "../src/rng/avx-mathfun.js";
import { fmaF32 } from "../src/rng/float32-fma.js";
import {
  createRandomSource,
  PhiloxGenerator,
  RANDOM_SOURCE_KINDS,
  TorchCpuGenerator,
} from "../src/rng/index.js";
import { MersenneTwister19937 } from "../src/rng/mersenne-twister.js";
import { seedToUint64 } from "../src/rng/seed.js";
import { assertClose } from "./helpers/assert-close.js";
import { golden, manifest } from "./helpers/fixtures.js";

interface RngCall {
  shape: number[];
  key: string;
  numel: number;
  first_values: number[];
}
interface RngCase {
  id: string;
  seed: number;
  calls: RngCall[];
}

const cases: RngCase[] = manifest().rng.cases;
/** README 4.2: float32 libm differences allowed on the numel >= 16 path. */
const FLOAT_PATH_TOLERANCE = 5e-6;

/** Indices where two float32 arrays differ in bits (NaN-safe, -0 vs +0 counts). */
function bitMismatches(actual: Float32Array, expected: Float32Array): number[] {
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  const bad: number[] = [];
  for (let i = 0; i < e.length; i++) if (a[i] !== e[i]) bad.push(i);
  return bad;
}

/** Replays every manifest case on one generator per case, in call order. */
function replayCases(): { call: RngCall; caseId: string; actual: Float32Array; expected: Float32Array }[] {
  const out = [];
  for (const c of cases) {
    const generator = new TorchCpuGenerator(BigInt(c.seed));
    for (const call of c.calls) {
      const actual = generator.randn(call.shape);
      const expected = golden("rng").readF32(call.key);
      out.push({ call, caseId: c.id, actual, expected });
    }
  }
  return out;
}

test("torch CPU randn: every golden call, numel < 16 bitwise exact, numel >= 16 within 5e-6", () => {
  assert.ok(cases.length >= 20, `expected the manifest's rng cases, got ${cases.length}`);
  let worstFloatPath = 0;
  for (const { call, caseId, actual, expected } of replayCases()) {
    const label = `${caseId} ${call.key} shape [${call.shape}] seed ${cases.find((c) => c.id === caseId)?.seed}`;
    assert.equal(actual.length, call.numel, `${label}: numel`);
    if (call.numel < 16) {
      const bad = bitMismatches(actual, expected);
      assert.deepEqual(
        bad,
        [],
        `${label}: double path must be bitwise exact; first mismatch at ${bad[0]}: got ${actual[bad[0]]}, expected ${expected[bad[0]]}`,
      );
    } else {
      const diff = assertClose(actual, expected, FLOAT_PATH_TOLERANCE, label);
      worstFloatPath = Math.max(worstFloatPath, diff.maxAbs);
    }
  }
  // measured: 0 (the AVX2 kernel is emulated bit for bit); README allows 5e-6
  assert.ok(worstFloatPath <= FLOAT_PATH_TOLERANCE);
});

test("torch CPU randn: the float path is bit-exact too (avx_mathfun log/sincos with FMA)", () => {
  let mismatched = 0;
  let total = 0;
  const where: string[] = [];
  for (const { call, actual, expected } of replayCases()) {
    if (call.numel < 16) continue;
    const bad = bitMismatches(actual, expected);
    total += call.numel;
    mismatched += bad.length;
    if (bad.length) where.push(`${call.key}[${bad[0]}]: ${actual[bad[0]]} vs ${expected[bad[0]]}`);
  }
  assert.equal(mismatched, 0, `${mismatched}/${total} float-path values differ in bits; first: ${where[0]}`);
});

test("torch CPU randn: the normal cached by the double path survives a float-path call", () => {
  // case14 is [[3],[16],[3]]: the third call's first value is the sine half left by the first call
  const c = cases.find((k) => k.calls.map((x) => x.numel).join() === "3,16,3");
  assert.ok(c, "manifest has the [3],[16],[3] case");
  const g = new TorchCpuGenerator(c.seed);
  g.randn([3]);
  g.randn([16]);
  const third = g.randn([3]);
  const reference = new TorchCpuGenerator(c.seed).randn([4]);
  assert.equal(third[0], reference[3], "cached sine value from call 1 opens call 3");
  assert.deepEqual(Array.from(third), Array.from(golden("rng").readF32(c.calls[2].key)));
});

test("torch CPU randn: a [1,4,64,64] draw takes well under 10 ms", () => {
  const g = new TorchCpuGenerator(42);
  g.randn([1, 4, 64, 64]); // warm-up (JIT)
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    g.randn([1, 4, 64, 64]);
    best = Math.min(best, performance.now() - t0);
  }
  assert.ok(best < 10, `best of 5 draws took ${best.toFixed(2)} ms`);
});

test("seeds: low 32 bits for torch, negative seeds wrap like torch, unsafe numbers refused", () => {
  const draw = (seed: number | bigint) => Array.from(new TorchCpuGenerator(seed).randn([20]));
  assert.deepEqual(draw(2 ** 32 + 42), draw(42));
  assert.deepEqual(draw(42n), draw(42));
  assert.deepEqual(draw(-1), draw(4294967295));
  assert.deepEqual(draw((1n << 64n) - 1n), draw(4294967295));
  assert.equal(seedToUint64(-1), (1n << 64n) - 1n);
  assert.equal(seedToUint64(12345678901234), 12345678901234n);
  assert.throws(() => seedToUint64(2 ** 60), /not a safe integer.*bigint/);
  assert.throws(() => seedToUint64(1.5), /not a safe integer/);
  assert.throws(() => seedToUint64(Number.NaN), /not a safe integer/);
  assert.throws(() => seedToUint64(1n << 64n), /outside/);
  assert.throws(() => seedToUint64(-(1n << 63n) - 1n), /outside/);
});

test("shapes: empty tensors draw nothing, bad dimensions are refused", () => {
  const g = new TorchCpuGenerator(0);
  assert.equal(g.randn([0, 4]).length, 0);
  assert.equal(g.randn([]).length, 1); // a scalar, like torch.randn(())
  const fresh = new TorchCpuGenerator(0);
  fresh.randn([0]);
  assert.equal(fresh.randn([1])[0], new TorchCpuGenerator(0).randn([1])[0], "[0] consumed nothing");
  assert.throws(() => g.randn([2, -1]), /non-negative integers/);
  assert.throws(() => g.randn([1.5]), /non-negative integers/);
});

test("MT19937: reference outputs of init_genrand", () => {
  // C reference mt19937ar.c: init_genrand(5489) starts 3499211612, 581869302, 3890346734
  const mt = new MersenneTwister19937(5489);
  assert.deepEqual([mt.nextUint32(), mt.nextUint32(), mt.nextUint32()], [3499211612, 581869302, 3890346734]);
  // the 10000th output for the default seed, as in the C++ standard ([rand.predef])
  const std = new MersenneTwister19937(5489);
  let v = 0;
  for (let i = 0; i < 10000; i++) v = std.nextUint32();
  assert.equal(v, 4123659995);
});

test("fmaF32 rounds once where fround(a*b + c) rounds twice", () => {
  const a = 8 + 2 ** -20;
  const b = 8 - 2 ** -20; // a·b = 64 − 2^-40, just below the tie
  // 2^30 + 192 − 2^-40 rounds down to 2^30 + 128; the double sum is the tie 2^30 + 192 (→ even, 256)
  assert.equal(fmaF32(a, b, 2 ** 30 + 128), 2 ** 30 + 128);
  assert.equal(Math.fround(a * b + 2 ** 30 + 128), 2 ** 30 + 256, "the double-rounding case exists");
  // 2^30 + 320 + 2^-40 is just above the tie between +256 (even) and +384
  assert.equal(fmaF32(-a, b, 2 ** 30 + 384), 2 ** 30 + 384);
  assert.equal(fmaF32(3, 5, 7), 22);
  assert.equal(fmaF32(0.5, 0.5, -0.25), 0);
  assert.equal(fmaF32(3e38, 10, 0), Number.POSITIVE_INFINITY);
});

test("avx_mathfun log and sincos stay within 3 ulp of libm on their randn domain", () => {
  const ulp = (x: number) => {
    const e = Math.floor(Math.log2(Math.abs(x) || 2 ** -126));
    return 2 ** (Math.max(e, -126) - 23);
  };
  const sc = new Float32Array(2);
  let worstLog = 0;
  let worstTrig = 0;
  for (let i = 1; i <= 4096; i++) {
    const a = Math.fround(i / 4096); // the (0, 1] inputs of normal_fill
    const l = logAvx(a);
    worstLog = Math.max(worstLog, Math.abs(l - Math.log(a)) / ulp(Math.log(a) || 2 ** -24));
    const theta = Math.fround(Math.fround(2 * Math.PI) * Math.fround((i - 1) / 4096));
    sincosAvx(theta, sc);
    worstTrig = Math.max(
      worstTrig,
      Math.abs(sc[0] - Math.sin(theta)) / 2 ** -24,
      Math.abs(sc[1] - Math.cos(theta)) / 2 ** -24,
    );
  }
  assert.ok(worstLog <= 3, `log: ${worstLog.toFixed(2)} ulp`);
  assert.ok(worstTrig <= 3, `sincos: ${worstTrig.toFixed(2)} units of 2^-24`);
  assert.ok(Number.isNaN(logAvx(0)) && Number.isNaN(logAvx(-1)));
});

test("createRandomSource: 'cpu' is torch CPU, 'nv' is Philox, anything else names the valid kinds", () => {
  assert.deepEqual(RANDOM_SOURCE_KINDS, ["cpu", "nv"]);
  const cpu = createRandomSource("cpu", 1234).randn([1, 4, 8, 8]);
  assert.deepEqual(Array.from(cpu), Array.from(new TorchCpuGenerator(1234).randn([1, 4, 8, 8])));
  const nv = createRandomSource("nv", 1234).randn([1, 4, 8, 8]);
  assert.deepEqual(Array.from(nv), Array.from(new PhiloxGenerator(1234).randn([1, 4, 8, 8])));
  assert.notDeepEqual(Array.from(cpu), Array.from(nv));
  assert.throws(
    () => createRandomSource("gpu" as "cpu", 1),
    (err: Error) => err.message === 'unknown random source "gpu"; valid kinds: cpu, nv',
  );
});
