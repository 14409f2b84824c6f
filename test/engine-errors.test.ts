/**
 * Broken, foreign and dangerous inputs through openPipeline (and on into generate where the
 * failure can only show when a network loads): each is an error that names the file, tensor,
 * provider or op — never a crash, never code run from a pickle.
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
import { writeModel } from "../src/graph/onnx-model.js";
import { generate } from "../src/pipeline/generate.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { ExecutionProviderError } from "../src/runtime/runtime.js";
import { ModelLoadError, type ModelLoadErrorReason } from "../src/weights/model-load-error.js";
import { SafetensorsFile } from "../src/weights/safetensors.js";
import { type TensorToWrite, writeSafetensors } from "../src/weights/safetensors-writer.js";
import { fixturePath } from "./helpers/fixtures.js";
import { TINY_OVERRIDES } from "./helpers/tiny-configs.js";

const dir = mkdtempSync(join(tmpdir(), "sdlite-engine-errors-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const SINGLE = fixturePath("single_file", "tiny-sd15-fp16.safetensors");
const OPTIONS: EngineOptions = { cache: false, threads: 1, overrides: TINY_OVERRIDES };
const REQUEST = {
  prompt: "a cat",
  sampler: "Euler a",
  steps: 1,
  guidance: 7.5,
  seed: 1,
  width: 64,
  height: 64,
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

describe("openPipeline refuses broken and foreign files with a clear error", () => {
  it("a truncated file: the safetensors reader's diagnosis names the file and a tensor", async () => {
    const truncated = join(dir, "truncated.safetensors");
    const head = new Uint8Array(3_000_000); // the first 3 MB of the 5 MB fixture
    const fd = openSync(SINGLE, "r");
    readSync(fd, head, 0, head.length, 0);
    closeSync(fd);
    writeFileSync(truncated, head);
    await refused(
      truncated,
      "unreadable",
      /tensor ".+": data_offsets \[\d+, \d+\] run past the end .*truncated\?/,
    );
    const headerCut = join(dir, "header-cut.safetensors");
    writeFileSync(headerCut, head.subarray(0, 4096)); // the JSON header itself is cut short
    await refused(headerCut, "unreadable", /safetensors/);
  });

  it("a wrong-shaped tensor is named with both shapes", async () => {
    const name = "first_stage_model.decoder.up.2.block.1.conv2.weight";
    // the same numbers in a permuted layout, as a faulty converter would write them
    const path = editedFixture("wrong-shape.safetensors", (ts) =>
      ts.map((t) => (t.name === name ? { ...t, shape: [32, 3, 32, 3] } : t)),
    );
    await refused(
      path,
      "wrong-shape",
      /VAE: tensor "first_stage_model\.decoder\.up\.2\.block\.1\.conv2\.weight" has shape \[32, 3, 32, 3\], expected \[32, 32, 3, 3\]/,
    );
  });

  it("a missing tensor is named", async () => {
    const name = "model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_v.weight";
    const path = editedFixture("missing.safetensors", (ts) => ts.filter((t) => t.name !== name));
    await refused(
      path,
      "missing-tensor",
      /UNet: tensor "model\.diffusion_model\.middle_block\.1\.transformer_blocks\.0\.attn2\.to_v\.weight" \(shape \[32, 32\]\) is missing/,
    );
  });

  it("an SDXL header (two text encoders, label embedding) is recognised as SDXL", async () => {
    const zeros = (shape: number[]): TensorToWrite => ({
      name: "",
      dtype: "F16",
      shape,
      data: new Uint16Array(shape.reduce((a, b) => a * b, 1)),
    });
    // SDXL's own names and (small) shapes next to an SD1-style UNet
    const path = editedFixture("sdxl.safetensors", (ts) => [
      ...ts.filter((t) => t.name.startsWith("model.") || t.name.startsWith("first_stage_model.")),
      { ...zeros([768]), name: "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight" },
      { ...zeros([1280]), name: "conditioner.embedders.1.model.ln_final.weight" },
      { ...zeros([1280]), name: "model.diffusion_model.label_emb.0.0.bias" },
    ]);
    await refused(path, "unsupported-architecture", /SDXL/);
  });

  it("a LoRA given as the model says it is a LoRA", async () => {
    await refused(fixturePath("lora", "tiny-sd15-kohya.safetensors"), "not-a-model", /LoRA/);
  });

  it("a .ckpt whose pickle calls os.system is refused and nothing runs", async () => {
    const marker = join(dir, "pwned");
    const ascii = (s: string) => [...new TextEncoder().encode(s)];
    const command = `touch ${marker}`;
    // PROTO 2, GLOBAL 'os system', BINUNICODE command, TUPLE1, REDUCE, STOP — inside a torch.save zip
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
    const ckpt = join(dir, "evil.ckpt");
    writeFileSync(ckpt, zipSync({ "archive/data.pkl": [Uint8Array.from(pickle), { level: 0 }] }));
    await refused(ckpt, "pickle", /cannot be read safely .*os\.system/);
    assert.equal(existsSync(marker), false, "the pickled command must never run");
  });
});

describe("runtime failures name the provider or the op", () => {
  it('executionProviders ["nosuch"]: refused at open, naming it and listing the available ones', async () => {
    const available = onnxruntimeNode().availableProviders();
    assert.ok(available.includes("cpu"));
    for (const model of [SINGLE, fixturePath("models", "tiny-sd15-onnx")]) {
      await assert.rejects(
        openPipeline(model, { ...OPTIONS, executionProviders: ["nosuch"] }),
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
    const root = join(dir, "onnx-groupnorm");
    const src = fixturePath("models", "tiny-sd15-onnx");
    for (const part of ["model_index.json", "text_encoder", "vae_decoder", "tokenizer", "scheduler"]) {
      cpSync(join(src, part), join(root, part), { recursive: true });
    }
    // the UNet's interface around one NHWC GroupNorm, as onnxruntime's CUDA optimiser fuses it
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
