/**
 * Broken, foreign and dangerous inputs through openPipeline (and on into generate where the
 * failure can only show when a network loads), then the same through `sdlite generate`: each is
 * an error that names the file, tensor, provider or op — never a crash, never code run from a pickle.
 */
import assert from "node:assert/strict";
import {
  closeSync,
  cpSync,
  existsSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { zipSync } from "fflate";
import { OnnxModelSessionError } from "../src/engine/onnx-folder-session.js";
import { type EngineOptions, openPipeline } from "../src/engine/open-pipeline.js";
import { float, GraphBuilder, MS_DOMAIN } from "../src/graph/graph-builder.js";
import { writeModel } from "../src/graph/write-model.js";
import { generate } from "../src/pipeline/generate.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { ExecutionProviderError } from "../src/runtime/runtime.js";
import { SafetensorsFile } from "../src/weights/formats/safetensors.js";
import { type TensorToWrite, writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { ModelLoadError, type ModelLoadErrorReason } from "../src/weights/model-load-error.js";
import { fixturePath } from "./helpers/fixtures.js";
import { describeRun, runSdlite } from "./helpers/sdlite-cli.js";
import { TINY_OVERRIDES } from "./helpers/tiny-configs.js";

const dir = mkdtempSync(join(tmpdir(), "sdlite-engine-errors-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const SINGLE = fixturePath("single_file", "tiny-sd15-fp16.safetensors");
const ONNX = fixturePath("models", "tiny-sd15-onnx");
const OPTIONS: EngineOptions = { runtime: { cache: false, threads: 1 }, overrides: TINY_OVERRIDES };
const REQUEST = {
  prompt: "a cat",
  sampler: "Euler a",
  steps: 1,
  guidance: 7.5,
  seed: 1,
  width: 64,
  height: 64,
};

/** Builds a crafted input once, on first use (the library and the CLI tests share them). */
function once(make: () => string): () => string {
  let path: string | undefined;
  return () => {
    path ??= make();
    return path;
  };
}

/** The fp16 fixture rewritten with `edit` applied to its tensor list (real data throughout). */
function editedFixture(name: string, edit: (tensors: TensorToWrite[]) => TensorToWrite[]): string {
  const src = SafetensorsFile.open(SINGLE);
  const tensors: TensorToWrite[] = src.names().map((n) => {
    const { dtype, shape } = src.info(n);
    return { name: n, dtype, shape, data: src.readRaw(n).bytes.slice() };
  });
  src.close();
  const path = join(dir, name);
  writeSafetensors(path, edit(tensors));
  return path;
}

function firstBytes(name: string, count: number): string {
  const head = new Uint8Array(count);
  const fd = openSync(SINGLE, "r");
  readSync(fd, head, 0, count, 0);
  closeSync(fd);
  const path = join(dir, name);
  writeFileSync(path, head);
  return path;
}

const WRONG_SHAPE_TENSOR = "first_stage_model.decoder.up.2.block.1.conv2.weight";
const MISSING_TENSOR = "model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_v.weight";
const PWNED = join(dir, "pwned");

const crafted = {
  // the first 3 MB of the 5 MB fixture: the header promises tensors the file does not hold
  truncated: once(() => firstBytes("truncated.safetensors", 3_000_000)),
  // the JSON header itself cut short
  headerCut: once(() => firstBytes("header-cut.safetensors", 4096)),
  // the same numbers in a permuted layout, as a faulty converter would write them
  wrongShape: once(() =>
    editedFixture("wrong-shape.safetensors", (ts) =>
      ts.map((t) => (t.name === WRONG_SHAPE_TENSOR ? { ...t, shape: [32, 3, 32, 3] } : t)),
    ),
  ),
  missing: once(() =>
    editedFixture("missing.safetensors", (ts) => ts.filter((t) => t.name !== MISSING_TENSOR)),
  ),
  // SDXL's own names and (small) shapes: two text encoders and the label embedding
  sdxl: once(() => {
    const zeros = (name: string, shape: number[]): TensorToWrite => ({
      name,
      dtype: "F16",
      shape,
      data: new Uint16Array(shape.reduce((a, b) => a * b, 1)),
    });
    return editedFixture("sdxl.safetensors", (ts) => [
      ...ts.filter((t) => t.name.startsWith("model.") || t.name.startsWith("first_stage_model.")),
      zeros("conditioner.embedders.0.transformer.text_model.final_layer_norm.weight", [768]),
      zeros("conditioner.embedders.1.model.ln_final.weight", [1280]),
      zeros("model.diffusion_model.label_emb.0.0.bias", [1280]),
    ]);
  }),
  lora: () => fixturePath("lora", "tiny-sd15-kohya.safetensors"),
  // a torch.save zip whose pickle is PROTO 2, GLOBAL 'os system', BINUNICODE cmd, TUPLE1, REDUCE, STOP
  evilCkpt: once(() => {
    const ascii = (s: string) => [...new TextEncoder().encode(s)];
    const command = `touch ${PWNED}`;
    const pickle = [
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
    ];
    pickle.push(0x85, 0x52, 0x2e);
    const path = join(dir, "evil.ckpt");
    writeFileSync(path, zipSync({ "archive/data.pkl": [Uint8Array.from(pickle), { level: 0 }] }));
    return path;
  }),
  // the tiny ONNX pipeline with a UNet around one NHWC com.microsoft::GroupNorm, as onnxruntime's
  // CUDA optimiser fuses it (same inputs and output as the real export)
  groupNormOnnx: once(() => {
    const root = join(dir, "onnx-groupnorm");
    for (const part of ["model_index.json", "text_encoder", "vae_decoder", "tokenizer", "scheduler"]) {
      cpSync(join(ONNX, part), join(root, part), { recursive: true });
    }
    const b = new GraphBuilder("unet");
    const sample = b.input("sample", "float32", ["batch", 4, "height", "width"]);
    b.input("timestep", "float32", ["batch"]);
    b.input("encoder_hidden_states", "float32", ["batch", "sequence", 32]);
    const nhwc = b.node("Transpose", [sample], { perm: [0, 2, 3, 1] });
    const normed = b.node(
      "GroupNorm",
      [nhwc, b.constFloat([1, 1, 1, 1]), b.constFloat([0, 0, 0, 0])],
      { epsilon: float(1e-5), groups: 2, activation: 1 },
      { domain: MS_DOMAIN },
    );
    b.output(b.node("Transpose", [normed], { perm: [0, 3, 1, 2] }), "out_sample", "float32");
    writeModel(b, join(root, "unet"));
    return root;
  }),
};

async function refused(path: string, reason: ModelLoadErrorReason, message: RegExp): Promise<void> {
  await assert.rejects(openPipeline(path, OPTIONS), (err: unknown) => {
    assert.ok(err instanceof ModelLoadError, `expected a ModelLoadError for ${path}, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    assert.ok(err.message.startsWith(path), `the message names the file: ${err.message}`);
    assert.match(err.message, message);
    return true;
  });
}

describe("openPipeline refuses broken and foreign files with a clear error", () => {
  it("a truncated file: the safetensors reader's diagnosis names the file and a tensor", async () => {
    await refused(
      crafted.truncated(),
      "unreadable",
      /tensor ".+": data_offsets \[\d+, \d+\] run past the end .*truncated\?/,
    );
    await refused(crafted.headerCut(), "unreadable", /safetensors/);
  });

  it("a wrong-shaped tensor is named with both shapes", async () => {
    await refused(
      crafted.wrongShape(),
      "wrong-shape",
      /VAE: tensor "first_stage_model\.decoder\.up\.2\.block\.1\.conv2\.weight" has shape \[32, 3, 32, 3\], expected \[32, 32, 3, 3\]/,
    );
  });

  it("a missing tensor is named", async () => {
    await refused(
      crafted.missing(),
      "missing-tensor",
      /UNet: tensor "model\.diffusion_model\.middle_block\.1\.transformer_blocks\.0\.attn2\.to_v\.weight" \(shape \[32, 32\]\) is missing/,
    );
  });

  it("an SDXL header (two text encoders, label embedding) is recognised as SDXL", async () => {
    await refused(crafted.sdxl(), "unsupported-architecture", /SDXL/);
  });

  it("a LoRA given as the model says it is a LoRA", async () => {
    await refused(crafted.lora(), "not-a-model", /this is a LoRA, not a model/);
  });

  it("a .ckpt whose pickle calls os.system is refused and nothing runs", async () => {
    await refused(crafted.evilCkpt(), "pickle", /cannot be read safely .*os\.system/);
    assert.equal(existsSync(PWNED), false, "the pickled command must never run");
  });
});

describe("runtime failures name the provider or the op", () => {
  it('executionProviders ["nosuch"]: refused at open, naming it and listing the available ones', async () => {
    const available = onnxruntimeNode().availableProviders();
    assert.ok(available.includes("cpu"));
    for (const model of [SINGLE, ONNX]) {
      await assert.rejects(
        openPipeline(model, { ...OPTIONS, runtime: { ...OPTIONS.runtime, executionProviders: ["nosuch"] } }),
        (err: unknown) => {
          assert.ok(err instanceof ExecutionProviderError, String(err));
          assert.equal(err.provider, "nosuch");
          assert.deepEqual(err.available, available);
          assert.match(
            err.message,
            new RegExp(`"nosuch" is not available .*\\(available: ${available.join(", ")}\\)`),
          );
          return true;
        },
      );
    }
  });

  it("an ONNX folder whose UNet uses com.microsoft::GroupNorm: generate fails naming the op and the file", async () => {
    const root = crafted.groupNormOnnx();
    const pipeline = await openPipeline(root, OPTIONS);
    try {
      assert.deepEqual(pipeline.model.format === "onnx" && pipeline.model.unet.customOps, [
        "com.microsoft::GroupNorm",
      ]);
      await assert.rejects(generate(pipeline.models, REQUEST), (err: unknown) => {
        assert.ok(err instanceof OnnxModelSessionError, String(err));
        assert.equal(err.modelPath, join(root, "unet", "model.onnx"));
        assert.match(
          err.message,
          /unet[/\\]model\.onnx: onnxruntime cannot run this model with provider\(s\) cpu/,
        );
        assert.match(err.message, /GroupNorm\(1\)/); // onnxruntime's own words
        assert.match(err.message, /non-standard ops \(com\.microsoft::GroupNorm\)/);
        return true;
      });
    } finally {
      await pipeline.close();
    }
  });
});

describe("the same through `sdlite generate`: exit 1, one line, no stack trace, no output", () => {
  it("truncated, wrong shape, missing tensor, SDXL, LoRA, evil .ckpt, nosuch provider, GroupNorm op", async () => {
    const config = join(dir, "tiny-overrides.json");
    writeFileSync(config, JSON.stringify(TINY_OVERRIDES));
    const cases: { name: string; args: string[]; message: RegExp }[] = [
      {
        name: "truncated",
        args: ["-m", crafted.truncated()],
        message: /truncated\.safetensors: .*truncated\?/,
      },
      {
        name: "wrong shape",
        args: ["-m", crafted.wrongShape(), "--config", config],
        message:
          /wrong-shape\.safetensors: .*"first_stage_model\.decoder\.up\.2\.block\.1\.conv2\.weight" has shape/,
      },
      {
        name: "missing tensor",
        args: ["-m", crafted.missing(), "--config", config],
        message:
          /missing\.safetensors: .*"model\.diffusion_model\.middle_block\.1\.transformer_blocks\.0\.attn2\.to_v\.weight" .*is missing/,
      },
      { name: "SDXL", args: ["-m", crafted.sdxl()], message: /sdxl\.safetensors: .*SDXL/ },
      {
        name: "LoRA",
        args: ["-m", crafted.lora()],
        message: /tiny-sd15-kohya\.safetensors: this is a LoRA, not a model/,
      },
      { name: "evil .ckpt", args: ["-m", crafted.evilCkpt()], message: /evil\.ckpt: .*os\.system/ },
      {
        name: "nosuch provider",
        args: ["-m", ONNX, "--provider", "nosuch"],
        message: /"nosuch" is not available .*\(available: .*cpu/,
      },
      {
        name: "GroupNorm op",
        args: ["-m", crafted.groupNormOnnx()],
        message:
          /unet[/\\]model\.onnx: onnxruntime cannot run this model .*GroupNorm.*com\.microsoft::GroupNorm/,
      },
    ];
    const base = [
      "generate",
      "a cat",
      "--seed",
      "1",
      "-W",
      "64",
      "-H",
      "64",
      "--steps",
      "1",
      "--threads",
      "1",
    ];
    const env = {
      SDLITE_CACHE: join(dir, "graphs"),
      HF_HOME: join(dir, "hf"),
      HF_HUB_OFFLINE: "1",
      HF_TOKEN: "",
    };
    // spawned together: each start-up (node + tsx) costs more than the failure itself
    const runs = await Promise.all(
      cases.map((c, i) => runSdlite([...base, ...c.args, "-o", join(dir, `out-${i}`)], env)),
    );
    cases.forEach((c, i) => {
      const run = runs[i];
      assert.equal(run.status, 1, `${c.name}: ${describeRun(run)}`);
      assert.equal(run.stdout, "", `${c.name}: nothing on stdout`);
      const last = run.stderr.trimEnd().split("\n").at(-1) ?? "";
      assert.match(last, /^sdlite: /, `${c.name}: the error is the last stderr line:\n${run.stderr}`);
      assert.match(last, c.message, `${c.name}: ${last}`);
      assert.ok(!/\n\s+at /.test(run.stderr), `${c.name}: no stack trace:\n${run.stderr}`);
      assert.equal(existsSync(join(dir, `out-${i}`)), false, `${c.name}: no output folder`);
    });
    assert.equal(existsSync(PWNED), false, "the pickled command must never run");
  });
});
