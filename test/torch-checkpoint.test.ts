import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { zipSync } from "fflate";
import { UnpickleError, unpickle } from "../src/weights/formats/restricted-unpickler.js";
import { TorchCheckpointFile } from "../src/weights/formats/torch-checkpoint.js";
import { loadModel } from "../src/weights/load-model.js";
import { ModelLoadError } from "../src/weights/model-load-error.js";

const dir = mkdtempSync(join(tmpdir(), "sdlite-ckpt-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/*
 * A torch.save-format archive made by CPython's own pickle (protocol 2) and zipfile, with
 * stand-ins registered under torch's names so the opcodes are exactly torch.save's:
 *
 *   torch._utils._rebuild_tensor_v2 / _rebuild_parameter, torch.{Half,Float,BFloat16}Storage and
 *   pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint as stub module attributes;
 *   Tensor.__reduce_ex__ -> (_rebuild_tensor_v2, (storage, offset, size, stride, False, OrderedDict()))
 *   Pickler.persistent_id(storage) -> ("storage", torch.XStorage, key, "cpu", numel)
 *   half  = HalfStorage "0":  struct.pack("<6e", 1, -2, 0.5, 3, 65504, -0.25)
 *   flt   = FloatStorage "1": struct.pack("<9f", *[i + 0.5 for i in range(9)])
 *   bf    = BFloat16Storage "2": bytes([0x80, 0x3f, 0x00, 0xc0])   # 1.0, -2.0
 *   state_dict = OrderedDict(
 *     "model.half":    Tensor(half, 0, (2, 3), (3, 1)),
 *     "model.strided": Tensor(flt, 1, (2, 2), (1, 3)),    # transposed view at offset 1
 *     "model.shared":  Tensor(flt, 6, (3,), (1,)),        # same storage, offset 6
 *     "model.param":   Param(Tensor(bf, 0, (2,), (1,))))  # via _rebuild_parameter
 *   ckpt = {"epoch": 3, "global_step": 10, "state_dict": state_dict,
 *           "callbacks": {"ModelCheckpoint": ModelCheckpoint()}}   # NEWOBJ + BUILD
 *   zipfile.ZipFile(out, "w", ZIP_STORED): archive/data.pkl, archive/byteorder ("little"),
 *   archive/data/{0,1,2}, archive/version
 */
const PYTHON_MADE_CKPT =
  "UEsDBBQAAAAAAK9Od10NI4hpsQIAALECAAAQAAAAYXJjaGl2ZS9kYXRhLnBrbIACfXEAKFgFAAAAZXBvY2hxAUsDWAsAAABnbG9i" +
  "YWxfc3RlcHECSwpYCgAAAHN0YXRlX2RpY3RxA2Njb2xsZWN0aW9ucwpPcmRlcmVkRGljdApxBClScQUoWAoAAABtb2RlbC5oYWxm" +
  "cQZjdG9yY2guX3V0aWxzCl9yZWJ1aWxkX3RlbnNvcl92MgpxBygoWAcAAABzdG9yYWdlcQhjdG9yY2gKSGFsZlN0b3JhZ2UKcQlY" +
  "AQAAADBxClgDAAAAY3B1cQtLBnRxDFFLAEsCSwOGcQ1LA0sBhnEOiWgEKVJxD3RxEFJxEVgNAAAAbW9kZWwuc3RyaWRlZHESaAco" +
  "KGgIY3RvcmNoCkZsb2F0U3RvcmFnZQpxE1gBAAAAMXEUaAtLCXRxFVFLAUsCSwKGcRZLAUsDhnEXiWgEKVJxGHRxGVJxGlgMAAAA" +
  "bW9kZWwuc2hhcmVkcRtoBygoaAhoE2gUaAtLCXRxHFFLBksDhXEdSwGFcR6JaAQpUnEfdHEgUnEhWAsAAABtb2RlbC5wYXJhbXEi" +
  "Y3RvcmNoLl91dGlscwpfcmVidWlsZF9wYXJhbWV0ZXIKcSNoBygoaAhjdG9yY2gKQkZsb2F0MTZTdG9yYWdlCnEkWAEAAAAycSVo" +
  "C0sCdHEmUUsASwKFcSdoHoloBClScSh0cSlScSqIaAQpUnErh3EsUnEtdVgJAAAAY2FsbGJhY2tzcS59cS9YDwAAAE1vZGVsQ2hl" +
  "Y2twb2ludHEwY3B5dG9yY2hfbGlnaHRuaW5nLmNhbGxiYWNrcy5tb2RlbF9jaGVja3BvaW50Ck1vZGVsQ2hlY2twb2ludApxMSmB" +
  "cTJ9cTMoWAcAAABtb25pdG9ycTRYCAAAAHZhbC9sb3NzcTVYBAAAAGJlc3RxNkc/+AAAAAAAAHVic3UuUEsDBBQAAAAAAK9Od12F" +
  "PeMZBgAAAAYAAAARAAAAYXJjaGl2ZS9ieXRlb3JkZXJsaXR0bGVQSwMEFAAAAAAAr053XTUKcBIMAAAADAAAAA4AAABhcmNoaXZl" +
  "L2RhdGEvMAA8AMAAOABC/3sAtFBLAwQUAAAAAACvTndd9YD83SQAAAAkAAAADgAAAGFyY2hpdmUvZGF0YS8xAAAAPwAAwD8AACBA" +
  "AABgQAAAkEAAALBAAADQQAAA8EAAAAhBUEsDBBQAAAAAAK9Od106CU54BAAAAAQAAAAOAAAAYXJjaGl2ZS9kYXRhLzKAPwDAUEsD" +
  "BBQAAAAAAK9Od13RnmdVAgAAAAIAAAAPAAAAYXJjaGl2ZS92ZXJzaW9uMwpQSwECFAMUAAAAAACvTnddDSOIabECAACxAgAAEAAA" +
  "AAAAAAAAAAAAgAEAAAAAYXJjaGl2ZS9kYXRhLnBrbFBLAQIUAxQAAAAAAK9Od12FPeMZBgAAAAYAAAARAAAAAAAAAAAAAACAAd8C" +
  "AABhcmNoaXZlL2J5dGVvcmRlclBLAQIUAxQAAAAAAK9Od101CnASDAAAAAwAAAAOAAAAAAAAAAAAAACAARQDAABhcmNoaXZlL2Rh" +
  "dGEvMFBLAQIUAxQAAAAAAK9Od131gPzdJAAAACQAAAAOAAAAAAAAAAAAAACAAUwDAABhcmNoaXZlL2RhdGEvMVBLAQIUAxQAAAAA" +
  "AK9Od106CU54BAAAAAQAAAAOAAAAAAAAAAAAAACAAZwDAABhcmNoaXZlL2RhdGEvMlBLAQIUAxQAAAAAAK9Od13RnmdVAgAAAAIA" +
  "AAAPAAAAAAAAAAAAAACAAcwDAABhcmNoaXZlL3ZlcnNpb25QSwUGAAAAAAYABgBuAQAA+wMAAAAA";

test("reads a CPython-pickled torch.save archive: dtypes, views, shared storage, parameters", () => {
  const path = join(dir, "python-made.ckpt");
  writeFileSync(path, Buffer.from(PYTHON_MADE_CKPT, "base64"));
  const f = TorchCheckpointFile.open(path);
  try {
    assert.deepEqual(f.names(), ["model.half", "model.strided", "model.shared", "model.param"]);
    assert.deepEqual(f.info("model.half"), { dtype: "F16", shape: [2, 3] });
    assert.deepEqual(Array.from(f.readF32("model.half")), [1, -2, 0.5, 3, 65504, -0.25]);
    assert.deepEqual(f.info("model.strided"), { dtype: "F32", shape: [2, 2] });
    assert.deepEqual(Array.from(f.readF32("model.strided")), [1.5, 4.5, 2.5, 5.5]);
    assert.deepEqual(Array.from(f.readF32("model.shared")), [6.5, 7.5, 8.5]);
    assert.deepEqual(f.info("model.param"), { dtype: "BF16", shape: [2] });
    assert.deepEqual(Array.from(f.readF32("model.param")), [1, -2]);
    // the training callback was recorded by name, never constructed
    assert.deepEqual(f.foreignGlobals, ["pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"]);
  } finally {
    f.close();
  }
});

/** A torch-style zip whose data.pkl is the given pickle. */
function zipWithPickle(name: string, pickle: number[]): string {
  const path = join(dir, name);
  writeFileSync(path, zipSync({ "archive/data.pkl": [Uint8Array.from(pickle), { level: 0 }] }));
  return path;
}

const ascii = (s: string) => [...new TextEncoder().encode(s)];

test("a pickle that asks for os.system builds an inert record and is refused: nothing runs", () => {
  const marker = join(dir, "pwned");
  const command = `touch ${marker}`;
  // PROTO 2, GLOBAL 'os system', BINUNICODE command, TUPLE1, REDUCE, STOP
  const evil = zipWithPickle("evil.ckpt", [
    0x80,
    2,
    0x63,
    ...ascii("os\nsystem\n"),
    0x58,
    command.length,
    0,
    0,
    0,
    ...ascii(command),
    0x85,
    0x52,
    0x2e,
  ]);
  assert.throws(
    () => loadModel(evil),
    (err: unknown) =>
      err instanceof ModelLoadError &&
      err.reason === "pickle" &&
      /cannot be read safely \(data\.pkl holds no tensors \(it names os\.system\)\).*python -c/.test(
        err.message,
      ),
  );
  assert.equal(existsSync(marker), false);
  // protocol-0 opcodes torch.save never emits are not interpreted at all
  const proto0 = zipWithPickle("proto0.ckpt", [
    0x63,
    ...ascii("os\nsystem\n"),
    0x28,
    0x53,
    ...ascii("'x'\n"),
    0x74,
    0x52,
    0x2e,
  ]);
  assert.throws(() => loadModel(proto0), /pickle opcode 0x53 at byte 12 is not accepted/);
});

test("restricted unpickler: data opcodes only, malformed input is an error", () => {
  const hooks = { persistentLoad: () => assert.fail("no persistent ids here") };
  // {'a': [1, -2, 1.5, None, True], 'b': (b'xy',)} in protocol 2
  const value = unpickle(
    Uint8Array.from([
      0x80, 2, 0x7d, 0x28, 0x58, 1, 0, 0, 0, 0x61, 0x5d, 0x28, 0x4b, 1, 0x4a, 0xfe, 0xff, 0xff, 0xff, 0x47,
      0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x4e, 0x88, 0x65, 0x58, 1, 0, 0, 0, 0x62, 0x43, 2, 0x78, 0x79, 0x85, 0x75,
      0x2e,
    ]),
    hooks,
  ) as Map<string, unknown>;
  assert.deepEqual(value.get("a"), [1, -2, 1.5, null, true]);
  assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0x58, 9, 0, 0, 0, 0x61]), hooks), UnpickleError);
  assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0x68, 7, 0x2e]), hooks), /memo key 7 not set/);
  assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0x2e]), hooks), /stack underflow/);
});
