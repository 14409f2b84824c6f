/**
 * The --fast preset: what it turns on, and that every option given explicitly wins over it (in the
 * pure merge and in `serve`'s engine options).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Command } from "commander";
import { registerGenerateCommand } from "../src/cli/commands/generate.js";
import { serveEngineOptions } from "../src/cli/commands/serve.js";
import { FAST_PRESET, oneShotLowMemory, withSpeedPreset } from "../src/engine/speed-preset.js";
import { speedSettings } from "../src/pipeline/job-engine.js";

describe("speed preset", () => {
  it("fast: int8 UNet, DeepCache every 3rd call, TAESD decoder, ToDo factor 2, int8 text encoder", () => {
    assert.deepEqual(withSpeedPreset("fast", {}), {
      unetQuantization: "int8",
      deepCacheInterval: 3,
      decoder: "taesd",
      todoFactor: 2,
      textEncoderQuantization: "int8",
    });
    assert.deepEqual(withSpeedPreset("fast", {}), { ...FAST_PRESET });
  });

  it("without a preset, only what was given", () => {
    assert.deepEqual(withSpeedPreset(undefined, {}), {});
    assert.deepEqual(withSpeedPreset(undefined, { deepCacheInterval: 2 }), { deepCacheInterval: 2 });
  });

  it("explicit options win, one at a time", () => {
    assert.deepEqual(withSpeedPreset("fast", { deepCacheInterval: 1 }), {
      unetQuantization: "int8",
      deepCacheInterval: 1,
      decoder: "taesd",
      todoFactor: 2,
      textEncoderQuantization: "int8",
    });
    assert.deepEqual(withSpeedPreset("fast", { decoder: "vae" }), {
      unetQuantization: "int8",
      deepCacheInterval: 3,
      decoder: "vae",
      todoFactor: 2,
      textEncoderQuantization: "int8",
    });
    assert.deepEqual(withSpeedPreset("fast", { unetQuantization: "none" }), {
      unetQuantization: "none",
      deepCacheInterval: 3,
      decoder: "taesd",
      todoFactor: 2,
      textEncoderQuantization: "int8",
    });
    assert.deepEqual(withSpeedPreset("fast", { unetQuantization: "int8-linear", deepCacheInterval: 2 }), {
      unetQuantization: "int8-linear",
      deepCacheInterval: 2,
      decoder: "taesd",
      todoFactor: 2,
      textEncoderQuantization: "int8",
    });
  });

  it("undefined means not given (the preset fills it)", () => {
    assert.deepEqual(
      withSpeedPreset("fast", {
        unetQuantization: undefined,
        deepCacheInterval: undefined,
        decoder: undefined,
      }),
      withSpeedPreset("fast", {}),
    );
  });

  it("never changes the preset itself", () => {
    withSpeedPreset("fast", { deepCacheInterval: 1, decoder: "vae", unetQuantization: "none" });
    withSpeedPreset("fast", { todoFactor: 1 });
    assert.deepEqual(FAST_PRESET, {
      unetQuantization: "int8",
      deepCacheInterval: 3,
      decoder: "taesd",
      todoFactor: 2,
      textEncoderQuantization: "int8",
    });
  });
});

describe("generate --fast and low memory", () => {
  it("a one-shot --fast run loads one network at a time unless told otherwise", () => {
    assert.equal(oneShotLowMemory("fast", undefined), true);
    assert.equal(oneShotLowMemory("fast", false), false);
    assert.equal(oneShotLowMemory(undefined, undefined), undefined);
    assert.equal(oneShotLowMemory(undefined, true), true);
  });

  it("the command line gives undefined, true or false for --low-memory / --no-low-memory", () => {
    const parse = (args: string[]) => {
      const program = new Command().exitOverride();
      let seen: { lowMemory?: boolean } | undefined;
      registerGenerateCommand(program);
      const generate = program.commands.find((c) => c.name() === "generate")!;
      generate.action((_prompt: string, options: { lowMemory?: boolean }) => {
        seen = options;
      });
      program.parse(["node", "sdlite", "generate", "a cat", ...args]);
      return seen?.lowMemory;
    };
    assert.equal(parse([]), undefined);
    assert.equal(parse(["--low-memory"]), true);
    assert.equal(parse(["--fast", "--no-low-memory"]), false);
  });
});

describe("--fast's ToDo beside other choices (speedSettings)", () => {
  it("--todo 1 turns it off; another factor or depth wins", () => {
    assert.equal(speedSettings("fast", { todoFactor: 1 }, "t").speed?.todoFactor, undefined);
    assert.equal(speedSettings("fast", { todoFactor: 3 }, "t").speed?.todoFactor, 3);
    assert.deepEqual(pick(speedSettings("fast", { todoMaxDepth: 2 }, "t").speed ?? {}), {
      todoFactor: 2,
      todoMaxDepth: 2,
    });
  });

  it("an explicit ToMe turns the preset's ToDo off (both reshape the self-attention); explicit both stay", () => {
    assert.equal(speedSettings("fast", { tomeRatio: 0.5 }, "t").speed?.todoFactor, undefined);
    assert.equal(speedSettings("fast", { tomeRatio: 0.5 }, "t").speed?.tomeRatio, 0.5);
    assert.equal(speedSettings("fast", { tomeRatio: 0.5, todoFactor: 2 }, "t").speed?.todoFactor, 2);
  });

  it("--quantize-text-encoder none keeps the float text encoder", () => {
    assert.equal(speedSettings("fast", {}, "t").speed?.textEncoderQuantization, "int8");
    assert.equal(
      speedSettings("fast", { textEncoderQuantization: "none" }, "t").speed?.textEncoderQuantization,
      undefined,
    );
    assert.equal(speedSettings(undefined, {}, "t").speed?.textEncoderQuantization, undefined);
  });

  it("without the preset ToDo is only what was asked for", () => {
    assert.equal(speedSettings(undefined, {}, "t").speed?.todoFactor, undefined);
    assert.equal(speedSettings(undefined, { todoFactor: 2 }, "t").speed?.todoFactor, 2);
  });
});

function pick(speed: { todoFactor?: number; todoMaxDepth?: number }) {
  return { todoFactor: speed.todoFactor, todoMaxDepth: speed.todoMaxDepth };
}

describe("serve --fast engine options", () => {
  it("with TAESD weights: int8, DeepCache 3, TAESD decoder, ToDo 2", () => {
    assert.deepEqual(serveEngineOptions({ fast: true, taesd: "t" }), {
      runtime: { threads: undefined },
      memory: { lowMemory: undefined },
      speed: {
        unetQuantization: "int8",
        deepCacheInterval: 3,
        decoder: "taesd",
        todoFactor: 2,
        textEncoderQuantization: "int8",
      },
      taesd: "t",
    });
  });

  it("--decoder vae keeps the full VAE (TAESD still there for previews)", () => {
    const e = serveEngineOptions({ fast: true, taesd: "t", decoder: "vae" });
    assert.equal(e.speed?.decoder, "vae");
    assert.equal(e.taesd, "t");
    assert.equal(e.speed?.unetQuantization, "int8");
  });

  it("without TAESD weights (the preset fell back) the full VAE decodes, int8 and DeepCache stay", () => {
    const e = serveEngineOptions({ fast: true });
    assert.equal(e.speed?.decoder, undefined);
    assert.equal(e.taesd, undefined);
    assert.equal(e.speed?.deepCacheInterval, 3);
    assert.equal(e.speed?.unetQuantization, "int8");
  });

  it("without --fast nothing of the preset", () => {
    const e = serveEngineOptions({ taesd: "t" });
    assert.equal(e.speed?.todoFactor, undefined);
    assert.equal(e.speed?.unetQuantization, undefined);
    assert.equal(e.speed?.deepCacheInterval, undefined);
    assert.equal(e.speed?.decoder, "taesd");
  });
});
