/**
 * Fuzzing the safetensors reader: thousands of corrupted headers and files, reproducible from one
 * seed. Every case must either read every tensor correctly (checked here against the raw bytes,
 * independently of the reader) or throw a SafetensorsError; a TypeError, RangeError or any other
 * crash is a bug. `npm run fuzz` (SDLITE_FUZZ_SCALE) runs more cases from the same seed.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { MersenneTwister19937 } from "../src/rng/mersenne-twister.js";
import { DTYPE_SIZES, type Dtype, f32ToF16 } from "../src/weights/formats/dtype.js";
import {
  MAX_HEADER_BYTES,
  parseSafetensorsHeader,
  SafetensorsError,
  SafetensorsFile,
  type SafetensorsHeader,
} from "../src/weights/formats/safetensors.js";
import { writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { checkMemory, fuzzRuns, newTally, reportTally } from "./helpers/fuzz.js";

const dir = mkdtempSync(join(tmpdir(), "sdlite-st-fuzz-"));
const tally = newTally();
after(() => {
  rmSync(dir, { recursive: true, force: true });
  reportTally("safetensors reader", tally);
});

const FUZZ_SEED = 20240611;
const HEADER_CASES = fuzzRuns(2500);
const FILE_CASES = fuzzRuns(2000);

/** Counts the case in the tally, and a failure as a crash (anything but a read or SafetensorsError). */
function tallied<T>(run: () => T): T {
  tally.inputs++;
  try {
    const outcome = run();
    checkMemory(tally, `safetensors case ${tally.inputs}`);
    return outcome;
  } catch (err) {
    tally.crashes++;
    throw err;
  }
}

/** Uniform draws from MT19937 so every run sees the same cases. */
class Random {
  private readonly mt: MersenneTwister19937;
  constructor(seed: number) {
    this.mt = new MersenneTwister19937(seed);
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.mt.nextUint32() / 2 ** 32) * n);
  }
  chance(p: number): boolean {
    return this.mt.nextUint32() / 2 ** 32 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

// ---------------------------------------------------------------------------------------------
// the valid file every mutation starts from

function baseFile(): { bytes: Uint8Array; header: Record<string, unknown>; dataBytes: number } {
  const path = join(dir, "base.safetensors");
  writeSafetensors(
    path,
    [
      { name: "w.f32", dtype: "F32", shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, -0, 1e-30]) },
      { name: "w.f16", dtype: "F16", shape: [4], data: f32ToF16(Float32Array.from([0.5, -1, 65504, 6e-8])) },
      { name: "w.bf16", dtype: "BF16", shape: [2, 2], data: Uint16Array.from([0x3f80, 0xbf80, 0x7f80, 1]) },
      { name: "ids", dtype: "I64", shape: [3], data: BigInt64Array.from([49406n, -1n, 7n]) },
      { name: "img", dtype: "U8", shape: [5], data: Uint8Array.from([0, 1, 127, 128, 255]) },
      { name: "empty", dtype: "F32", shape: [0, 4], data: new Float32Array(0) },
      { name: "t64", dtype: "F64", shape: [2], data: Float64Array.from([Math.PI, -1e300]) },
      { name: "flags", dtype: "BOOL", shape: [3], data: Uint8Array.from([1, 0, 1]) },
      { name: "ünïcode ✓", dtype: "I32", shape: [1], data: Int32Array.from([-5]) },
    ],
    { format: "pt", note: "fuzz base" },
  );
  const bytes = new Uint8Array(readFileSync(path));
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  return { bytes, header, dataBytes: bytes.length - 8 - headerLen };
}

const base = baseFile();
const baseData = base.bytes.subarray(base.bytes.length - base.dataBytes);

// ---------------------------------------------------------------------------------------------
// the oracle

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** What a header the reader accepted must satisfy, checked without the reader's own helpers. */
function checkHeaderInvariants(header: SafetensorsHeader, dataBytes: number, label: string): void {
  const ranges: [number, number][] = [];
  for (const [name, t] of header.tensors) {
    assert.equal(t.name, name, `${label}: tensor name`);
    assert.ok(Object.hasOwn(DTYPE_SIZES, t.dtype), `${label}: ${name} has dtype ${t.dtype}`);
    assert.ok(
      t.shape.every((d) => Number.isSafeInteger(d) && d >= 0),
      `${label}: ${name} shape ${t.shape}`,
    );
    assert.equal(t.end - t.begin, numel(t.shape) * DTYPE_SIZES[t.dtype], `${label}: ${name} byte length`);
    assert.ok(0 <= t.begin && t.begin <= t.end && t.end <= dataBytes, `${label}: ${name} in bounds`);
    ranges.push([t.begin, t.end]);
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cursor = 0;
  for (const [begin, end] of ranges) {
    assert.equal(begin, cursor, `${label}: tensors tile the data section`);
    cursor = end;
  }
  assert.equal(cursor, dataBytes, `${label}: tensors cover the data section`);
  for (const [k, v] of Object.entries(header.metadata)) {
    assert.equal(typeof v, "string", `${label}: metadata ${k}`);
  }
}

/** An opened file must hand back exactly the bytes its header points at, decoded to the right length. */
function checkReadsEveryTensor(file: SafetensorsFile, bytes: Uint8Array, label: string): void {
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const dataStart = 8 + headerLen;
  assert.equal(file.dataStart, dataStart, `${label}: data start`);
  checkHeaderInvariants(file, bytes.length - dataStart, label);
  for (const name of file.names()) {
    const t = file.info(name);
    const expected = bytes.subarray(dataStart + t.begin, dataStart + t.end);
    const raw = file.readRaw(name);
    assert.deepEqual(raw.bytes, expected, `${label}: raw bytes of ${name}`);
    const values = file.readF32(name);
    assert.equal(values.length, numel(t.shape), `${label}: ${name} element count`);
    if (t.dtype === "F32") {
      const copy = new Float32Array(expected.slice().buffer);
      assert.deepEqual(new Uint32Array(values.buffer), new Uint32Array(copy.buffer), `${label}: ${name} F32`);
    }
    if (t.dtype === "I64") {
      const ids = Array.from(new BigInt64Array(expected.slice().buffer), Number);
      assert.deepEqual(file.readInts(name), ids, `${label}: ${name} I64`);
    }
  }
}

/** Runs one case: anything but success or a SafetensorsError fails, with the case's recipe. */
function expectReadOrSafetensorsError(label: string, run: () => void): "ok" | "rejected" {
  try {
    run();
    return "ok";
  } catch (err) {
    if (err instanceof SafetensorsError) return "rejected";
    if (err instanceof assert.AssertionError) throw err;
    const e = err as Error;
    assert.fail(`${label}: crashed with ${e?.name}: ${e?.message?.slice(0, 300)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// generators of junk

const DTYPE_LIKE = [
  ...Object.keys(DTYPE_SIZES),
  "f32",
  "F8_E4M3",
  "U64",
  "",
  "F32 ",
  "toString",
  "__proto__",
  "constructor",
  "hasOwnProperty",
];
const NUMBER_LIKE = [
  0,
  1,
  -1,
  3,
  7,
  1.5,
  -0.5,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 64,
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  base.dataBytes,
  base.dataBytes + 1,
];

/**
 * Junk nested `depth` levels deep. JSON.stringify recurses and would overflow the stack, so the
 * value is a marker string that `withDeepJunk` expands once the header is text.
 */
function deepJunk(depth: number): string {
  return `@@deep${depth}@@`;
}

function deepJunkText(depth: number): string {
  let open = "";
  let close = "";
  for (let i = 0; i < depth; i++) {
    open += i % 2 ? '{"x":' : "[";
    close = (i % 2 ? "}" : "]") + close;
  }
  return `${open}1${close}`;
}

function withDeepJunk(json: string): string {
  return json.replace(/"@@deep(\d+)@@"/g, (_, depth) => deepJunkText(Number(depth)));
}

function junkValue(rnd: Random, depth = 0): unknown {
  switch (rnd.int(depth > 2 ? 5 : 8)) {
    case 0:
      return rnd.pick(NUMBER_LIKE);
    case 1:
      return rnd.pick(DTYPE_LIKE);
    case 2:
      return null;
    case 3:
      return rnd.chance(0.5);
    case 4:
      return "x".repeat(rnd.int(40));
    case 5:
      return Array.from({ length: rnd.int(4) }, () => junkValue(rnd, depth + 1));
    case 6:
      return { dtype: junkValue(rnd, depth + 1), shape: junkValue(rnd, depth + 1) };
    default:
      return deepJunk(rnd.pick([10, 1000, 20000]));
  }
}

type Header = Record<string, Record<string, unknown> | unknown>;

function tensorNames(h: Header): string[] {
  return Object.keys(h).filter((k) => k !== "__metadata__");
}

/** One structural mutation of a header object, described for the failure message. */
function mutateHeader(h: Header, rnd: Random): string {
  const names = tensorNames(h);
  const name = names.length ? rnd.pick(names) : "new";
  const entry = h[name];
  const e = (entry !== null && typeof entry === "object" ? entry : {}) as Record<string, unknown>;
  const offsets = Array.isArray(e.data_offsets) ? (e.data_offsets as unknown[]) : [0, 0];
  switch (rnd.int(18)) {
    case 0:
      e.dtype = rnd.pick(DTYPE_LIKE);
      return `dtype of ${name} = ${String(e.dtype)}`;
    case 1:
      e.dtype = junkValue(rnd);
      return `dtype of ${name} = junk`;
    case 2: {
      const shape = Array.isArray(e.shape) ? [...(e.shape as unknown[])] : [];
      shape[rnd.int(shape.length + 1)] = rnd.pick(NUMBER_LIKE);
      e.shape = shape;
      return `shape of ${name} = ${JSON.stringify(shape)}`;
    }
    case 3:
      e.shape = junkValue(rnd);
      return `shape of ${name} = junk`;
    case 4:
      offsets[rnd.int(2)] = rnd.pick(NUMBER_LIKE);
      e.data_offsets = offsets;
      return `data_offsets of ${name} = ${JSON.stringify(offsets)}`;
    case 5:
      e.data_offsets = junkValue(rnd);
      return `data_offsets of ${name} = junk`;
    case 6:
      e.data_offsets = [offsets[1], offsets[0]];
      return `data_offsets of ${name} reversed`;
    case 7: {
      // overlap: point this tensor at another one's bytes
      const other = h[rnd.pick(names)] as Record<string, unknown>;
      if (other && typeof other === "object") e.data_offsets = other.data_offsets;
      return `data_offsets of ${name} copied from another tensor`;
    }
    case 8:
      delete e[rnd.pick(["dtype", "shape", "data_offsets"])];
      return `field of ${name} removed`;
    case 9:
      h[name] = junkValue(rnd);
      return `entry ${name} replaced by junk`;
    case 10:
      h[name] = rnd.pick([1, "F32", null, true, [], [1, 2]]);
      return `entry ${name} is not an object`;
    case 11:
      delete h[name];
      return `tensor ${name} removed (hole)`;
    case 12:
      h[rnd.pick(["__proto__", "constructor", "", "new tensor", "__metadata__ "])] = { ...e };
      return `odd tensor name added`;
    case 13:
      h.__metadata__ = junkValue(rnd);
      return `__metadata__ = junk`;
    case 14:
      h.__metadata__ = { a: "b", n: rnd.pick([1, null, [], {}, deepJunk(5000)]) };
      return `__metadata__ with a non-string value`;
    case 15:
      e.shape = Array.isArray(e.shape) ? [...(e.shape as number[]), rnd.pick([0, 1, 2])] : [1];
      return `shape of ${name} gains a dimension`;
    case 16:
      offsets[0] = Number(offsets[0]) + rnd.pick([-1, 1, 0.5]);
      offsets[1] = Number(offsets[1]) + rnd.pick([-1, 1, 0.5, 0]);
      e.data_offsets = offsets;
      return `data_offsets of ${name} nudged to ${JSON.stringify(offsets)}`;
    default:
      e.extra = junkValue(rnd);
      return `extra field on ${name}`;
  }
}

/** Mutations only expressible as text: non-JSON numbers, truncation, duplicates, garbage. */
function mutateText(json: string, rnd: Random): [string, string] {
  switch (rnd.int(9)) {
    case 0: {
      const numbers = [...json.matchAll(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi)];
      if (!numbers.length) return [json, "no number to replace"];
      const m = rnd.pick(numbers);
      const token = rnd.pick(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "0x10", "01", "1.", "-"]);
      return [
        json.slice(0, m.index) + token + json.slice((m.index ?? 0) + m[0].length),
        `number -> ${token}`,
      ];
    }
    case 1: {
      const at = rnd.int(json.length);
      return [json.slice(0, at), `JSON truncated at ${at}`];
    }
    case 2:
      return [`${json}${rnd.pick(["}", "x", ",", " {}", "\u0000"])}`, "trailing garbage"];
    case 3: {
      const d = rnd.pick([1000, 100000]);
      return [`${"[".repeat(d)}${"]".repeat(d)}`, `top level nested ${d} deep`];
    }
    case 4:
      return [rnd.pick(["[]", "null", "1", '"x"', "true", ""]), "top level not an object"];
    case 5: {
      // duplicate key: the last one wins in JSON.parse
      const names = tensorNames(JSON.parse(json));
      if (!names.length) return [json, "no tensor to duplicate"];
      const n = rnd.pick(names);
      return [
        json.replace(/^\{/, `{${JSON.stringify(n)}:{"dtype":"U8","shape":[1],"data_offsets":[0,1]},`),
        "duplicate key",
      ];
    }
    case 6: {
      const at = rnd.int(json.length);
      const ch = rnd.pick(['"', "\\", "{", "}", "[", "]", ":", ",", "\uFFFF", "\uD800"]);
      return [json.slice(0, at) + ch + json.slice(at), `inserted ${JSON.stringify(ch)} at ${at}`];
    }
    case 7:
      return [`\uFEFF${json}`, "byte-order mark"];
    default: {
      const at = rnd.int(json.length);
      return [json.slice(0, at) + json.slice(at + 1 + rnd.int(8)), `bytes deleted at ${at}`];
    }
  }
}

function fileBytes(headerBytes: Uint8Array, data: Uint8Array, declaredLength?: bigint): Uint8Array {
  const out = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

function randomHeaderJson(rnd: Random): { json: string; recipe: string[] } {
  const h = structuredClone(base.header) as Header;
  const recipe: string[] = [];
  const structural = 1 + rnd.int(3);
  for (let i = 0; i < structural; i++) recipe.push(mutateHeader(h, rnd));
  let json = withDeepJunk(JSON.stringify(h));
  if (rnd.chance(0.25)) {
    const [text, what] = mutateText(json, rnd);
    json = text;
    recipe.push(what);
  }
  return { json, recipe };
}

// ---------------------------------------------------------------------------------------------
// the fuzz runs

test(`fuzz parseSafetensorsHeader: ${HEADER_CASES} mutated headers read correctly or throw SafetensorsError`, () => {
  const rnd = new Random(FUZZ_SEED);
  const outcome = { ok: 0, rejected: 0 };
  let slowest = 0;
  for (let i = 0; i < HEADER_CASES; i++) {
    const { json, recipe } = randomHeaderJson(rnd);
    const dataBytes = rnd.chance(0.8) ? base.dataBytes : rnd.pick(NUMBER_LIKE.filter((n) => n >= 0));
    const label = `header case ${i} [${recipe.join("; ")}] dataBytes ${dataBytes}`;
    const t0 = performance.now();
    outcome[
      tallied(() =>
        expectReadOrSafetensorsError(label, () => {
          const header = parseSafetensorsHeader(json, dataBytes, "fuzz.safetensors");
          checkHeaderInvariants(header, dataBytes, label);
        }),
      )
    ]++;
    slowest = Math.max(slowest, performance.now() - t0);
  }
  // both outcomes must occur, or the fuzzer is not exercising the reader (the shares CI's 2500 gave)
  assert.ok(
    outcome.ok > HEADER_CASES * 0.02 && outcome.rejected > HEADER_CASES * 0.4,
    `outcomes ${JSON.stringify(outcome)}`,
  );
  assert.ok(slowest < 500, `slowest case took ${slowest.toFixed(0)} ms`);
});

test(`fuzz SafetensorsFile.open: ${FILE_CASES} corrupted files read every tensor correctly or throw SafetensorsError`, () => {
  const rnd = new Random(FUZZ_SEED + 1);
  const path = join(dir, "fuzz.safetensors");
  const outcome = { ok: 0, rejected: 0 };
  const headerLen = base.bytes.length - 8 - base.dataBytes;
  for (let i = 0; i < FILE_CASES; i++) {
    let bytes: Uint8Array;
    let recipe: string;
    switch (rnd.int(7)) {
      case 0: {
        // byte flips, mostly inside the header
        bytes = base.bytes.slice();
        const flips = 1 + rnd.int(6);
        const where: number[] = [];
        for (let k = 0; k < flips; k++) {
          const at = rnd.chance(0.8) ? 8 + rnd.int(headerLen) : rnd.int(bytes.length);
          bytes[at] ^= 1 << rnd.int(8);
          where.push(at);
        }
        recipe = `bits flipped at ${where.join(",")}`;
        break;
      }
      case 1: {
        const keep = rnd.int(base.bytes.length);
        bytes = base.bytes.slice(0, keep);
        recipe = `truncated to ${keep} bytes`;
        break;
      }
      case 2: {
        const length = rnd.pick([
          0n,
          1n,
          BigInt(headerLen - 1),
          BigInt(headerLen + 1),
          BigInt(base.bytes.length - 8),
          BigInt(base.bytes.length),
          BigInt(MAX_HEADER_BYTES),
          BigInt(MAX_HEADER_BYTES + 1),
          2n ** 53n + 1n,
          2n ** 63n,
          2n ** 64n - 1n,
          BigInt(rnd.int(2 ** 31)),
        ]);
        bytes = base.bytes.slice();
        new DataView(bytes.buffer).setBigUint64(0, length, true);
        recipe = `header length field = ${length}`;
        break;
      }
      case 3: {
        const junk = Uint8Array.from({ length: 1 + rnd.int(16) }, () => rnd.int(256));
        bytes = new Uint8Array([...base.bytes, ...junk]);
        recipe = `${junk.length} junk bytes appended`;
        break;
      }
      case 4: {
        // invalid UTF-8 inside the header (lone continuation byte, overlong form, surrogate)
        bytes = base.bytes.slice();
        const seq = rnd.pick([[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff]]);
        const at = 8 + 2 + rnd.int(headerLen - 4 - seq.length);
        bytes.set(seq, at);
        recipe = `invalid UTF-8 ${seq} at ${at}`;
        break;
      }
      case 6: {
        // flips in the data section only: the file stays valid and must read back the new bytes
        bytes = base.bytes.slice();
        const at = base.bytes.length - 1 - rnd.int(base.dataBytes);
        bytes[at] ^= 1 + rnd.int(255);
        recipe = `data byte ${at} changed`;
        break;
      }
      default: {
        const { json, recipe: steps } = randomHeaderJson(rnd);
        const header = new TextEncoder().encode(json);
        const data = rnd.chance(0.8) ? baseData : baseData.subarray(0, rnd.int(baseData.length + 1));
        bytes = fileBytes(header, data);
        recipe = `JSON [${steps.join("; ")}] with ${data.length} data bytes`;
      }
    }
    writeFileSync(path, bytes);
    const label = `file case ${i} (${recipe})`;
    outcome[
      tallied(() =>
        expectReadOrSafetensorsError(label, () => {
          const file = SafetensorsFile.open(path);
          try {
            checkReadsEveryTensor(file, bytes, label);
          } finally {
            file.close();
          }
        }),
      )
    ]++;
  }
  assert.ok(
    outcome.ok > FILE_CASES * 0.1 && outcome.rejected > FILE_CASES * 0.5,
    `outcomes ${JSON.stringify(outcome)}`,
  );
});

test("fuzz rejections name the file", () => {
  const rnd = new Random(FUZZ_SEED + 2);
  const path = join(dir, "named.safetensors");
  for (let i = 0; i < 200; i++) {
    const { json } = randomHeaderJson(rnd);
    writeFileSync(path, fileBytes(new TextEncoder().encode(json), baseData));
    try {
      SafetensorsFile.open(path).close();
    } catch (err) {
      assert.ok(err instanceof SafetensorsError, `case ${i}: ${(err as Error).name}`);
      assert.equal(err.file, path);
      assert.ok(err.message.startsWith(`${path}: `), err.message.slice(0, 200));
      assert.ok(err.message.length < 1000, `case ${i}: message of ${err.message.length} chars`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// every validation error on its own: right class, file and tensor named, a message that helps

function headerFile(name: string, header: unknown, dataBytes: number): string {
  const path = join(dir, name);
  const json = new TextEncoder().encode(
    typeof header === "string" ? header : withDeepJunk(JSON.stringify(header)),
  );
  writeFileSync(path, fileBytes(json, new Uint8Array(dataBytes)));
  return path;
}

function expectOpenError(path: string, tensor: string | undefined, message: RegExp): void {
  assert.throws(
    () => SafetensorsFile.open(path),
    (err: unknown) => {
      assert.ok(err instanceof SafetensorsError, `expected SafetensorsError, got ${String(err)}`);
      assert.equal(err.file, path);
      assert.equal(err.tensor, tensor);
      assert.ok(err.message.startsWith(`${path}: `), err.message);
      if (tensor !== undefined) assert.ok(err.message.includes(`tensor "${tensor}"`), err.message);
      assert.match(err.message, message);
      return true;
    },
  );
}

const f32 = (shape: number[], begin: number) => ({
  dtype: "F32" as Dtype,
  shape,
  data_offsets: [begin, begin + numel(shape) * 4],
});

test("validation: header is not valid JSON", () => {
  expectOpenError(headerFile("bad-json.safetensors", '{"a": ', 0), undefined, /header is not valid JSON/);
});

test("validation: header must be a JSON object", () => {
  expectOpenError(headerFile("array.safetensors", "[1,2]", 0), undefined, /header must be a JSON object/);
  expectOpenError(headerFile("null.safetensors", "null", 0), undefined, /header must be a JSON object/);
});

test("validation: header is not valid UTF-8", () => {
  const path = join(dir, "utf8.safetensors");
  const header = new TextEncoder().encode('{"a\u00e9":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}');
  header[header.indexOf(0xc3)] = 0xff;
  writeFileSync(path, fileBytes(header, new Uint8Array(1)));
  expectOpenError(path, undefined, /not valid UTF-8/);
});

test("validation: __metadata__ must be an object of strings", () => {
  expectOpenError(
    headerFile("meta1.safetensors", { __metadata__: [] }, 0),
    undefined,
    /__metadata__ must be an object/,
  );
  expectOpenError(
    headerFile("meta2.safetensors", { __metadata__: { format: 1 } }, 0),
    undefined,
    /__metadata__ value for "format" is not a string/,
  );
});

test("validation: an entry that is not an object", () => {
  expectOpenError(headerFile("entry.safetensors", { w: [1, 2] }, 0), "w", /entry must be an object/);
});

test("validation: unknown dtype lists the supported ones", () => {
  expectOpenError(
    headerFile("dtype.safetensors", { w: { ...f32([1], 0), dtype: "F8_E4M3" } }, 4),
    "w",
    /unknown dtype "F8_E4M3" \(supported: F64, F32, F16, BF16/,
  );
  expectOpenError(
    headerFile("dtype2.safetensors", { w: { ...f32([1], 0), dtype: "toString" } }, 4),
    "w",
    /unknown dtype/,
  );
  const { dtype: _, ...noDtype } = f32([1], 0);
  expectOpenError(headerFile("dtype3.safetensors", { w: noDtype }, 4), "w", /unknown dtype undefined/);
});

test("validation: shape must hold non-negative integers", () => {
  for (const shape of [[-1], [1.5], ["2"], null, 3, [2 ** 53]]) {
    expectOpenError(
      headerFile("shape.safetensors", { w: { ...f32([1], 0), shape } }, 4),
      "w",
      /shape must be an array of non-negative integers/,
    );
  }
});

test("validation: data_offsets must be [begin, end] with 0 <= begin <= end", () => {
  for (const data_offsets of [[4, 0], [-4, 0], [0], [0, 4, 8], [0, 4.5], "0,4", null]) {
    expectOpenError(
      headerFile("offsets.safetensors", { w: { ...f32([1], 0), data_offsets } }, 4),
      "w",
      /data_offsets must be \[begin, end\]/,
    );
  }
  const infinite = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,1e400]}}';
  expectOpenError(headerFile("offsets-inf.safetensors", infinite, 4), "w", /data_offsets must be/);
});

test("validation: byte length that does not match shape x dtype", () => {
  expectOpenError(
    headerFile("length.safetensors", { w: { ...f32([2], 0), data_offsets: [0, 4] } }, 4),
    "w",
    /byte length 4 does not match shape \[2\] x F32 \(8 bytes\)/,
  );
});

test("validation: tensor data past the end of the file (truncated download)", () => {
  expectOpenError(
    headerFile("past.safetensors", { w: f32([4], 0) }, 8),
    "w",
    /run past the end of the data \(8 bytes\).*truncated/,
  );
});

test("validation: overlapping tensors", () => {
  expectOpenError(headerFile("overlap.safetensors", { a: f32([2], 0), b: f32([2], 4) }, 12), "b", /overlaps/);
});

test("validation: a hole between tensors", () => {
  expectOpenError(
    headerFile("hole.safetensors", { a: f32([1], 0), b: f32([1], 8) }, 12),
    "b",
    /hole in the data before this tensor \(bytes 4\.\.8\)/,
  );
});

test("validation: bytes after the last tensor", () => {
  expectOpenError(
    headerFile("trailing.safetensors", { a: f32([1], 0) }, 8),
    undefined,
    /tensors cover 4 bytes but the data section holds 8/,
  );
});

test("validation: file shorter than the length field", () => {
  const path = join(dir, "short.safetensors");
  writeFileSync(path, new Uint8Array(5));
  expectOpenError(path, undefined, /file is 5 bytes, too short/);
});

test("validation: header length above the cap, or past the end of the file", () => {
  const path = join(dir, "cap.safetensors");
  const bytes = fileBytes(new TextEncoder().encode("{}"), new Uint8Array(0), BigInt(MAX_HEADER_BYTES) + 1n);
  writeFileSync(path, bytes);
  expectOpenError(path, undefined, /exceeds the 104857600-byte cap; not a safetensors file\?/);
  writeFileSync(path, fileBytes(new TextEncoder().encode("{}"), new Uint8Array(0), 2n ** 64n - 1n));
  expectOpenError(path, undefined, /exceeds the .*-byte cap/);
  writeFileSync(path, fileBytes(new TextEncoder().encode("{}"), new Uint8Array(0), 3n));
  expectOpenError(path, undefined, /header length 3 runs past the end of the 10-byte file/);
});

test("validation: junk nested deeply inside a header is rejected with a short message", () => {
  const deep = deepJunk(50000);
  for (const field of ["dtype", "shape", "data_offsets"]) {
    const path = headerFile(`deep-${field}.safetensors`, { w: { ...f32([1], 0), [field]: deep } }, 4);
    assert.throws(
      () => SafetensorsFile.open(path),
      (err: unknown) => err instanceof SafetensorsError && err.tensor === "w" && err.message.length < 500,
      field,
    );
  }
});

test("reading: unknown tensor names and closed files", () => {
  const path = join(dir, "ok.safetensors");
  writeSafetensors(path, [{ name: "a", dtype: "F32", shape: [1], data: Float32Array.from([2]) }]);
  const file = SafetensorsFile.open(path);
  assert.throws(
    () => file.readF32("b"),
    (err: unknown) =>
      err instanceof SafetensorsError && err.tensor === "b" && /no such tensor/.test(err.message),
  );
  assert.deepEqual(Array.from(file.readF32("a")), [2]);
  file.close();
  assert.throws(
    () => file.readF32("a"),
    (err: unknown) =>
      err instanceof SafetensorsError && err.tensor === "a" && /file is closed/.test(err.message),
  );
});
