/** `<lora:name:weight>` prompt tags, parsed and removed as A1111's extra_networks does. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LoraTagError, parsePromptTags } from "../src/lora/lora-tags.js";

describe("parsePromptTags", () => {
  it("removes the tags and reads name and weight", () => {
    const r = parsePromptTags("a photo of a cat <lora:tiny-sd15-kohya:0.7>, detailed");
    assert.equal(r.prompt, "a photo of a cat , detailed");
    assert.deepEqual(r.loras, [{ name: "tiny-sd15-kohya", textEncoderWeight: 0.7, unetWeight: 0.7 }]);
    assert.deepEqual(r.others, []);
  });

  it("defaults the weight to 1, reads a separate UNet weight and te=/unet= names", () => {
    const r = parsePromptTags("<lora:a> <lora:b:0.5:0.25> <lora:c:te=0.3:unet=0.9> <lyco:d:2>");
    assert.deepEqual(r.loras, [
      { name: "a", textEncoderWeight: 1, unetWeight: 1 },
      { name: "b", textEncoderWeight: 0.5, unetWeight: 0.25 },
      { name: "c", textEncoderWeight: 0.3, unetWeight: 0.9 },
      { name: "d", textEncoderWeight: 2, unetWeight: 2 },
    ]);
    assert.equal(r.prompt, "   ");
  });

  it("merges a LoRA named twice by adding the weights (the merge is linear)", () => {
    const r = parsePromptTags("<lora:x:0.5> cat <lora:x:0.25>");
    assert.deepEqual(r.loras, [{ name: "x", textEncoderWeight: 0.75, unetWeight: 0.75 }]);
  });

  it("removes other extra-network kinds without applying them, and leaves other angle brackets alone", () => {
    const r = parsePromptTags("i <3 cats <hypernet:anime:1> <not a tag> a<b");
    assert.equal(r.prompt, "i <3 cats  <not a tag> a<b");
    assert.deepEqual(r.others, [{ kind: "hypernet", args: "anime:1" }]);
    assert.deepEqual(r.loras, []);
  });

  it("refuses a weight that is not a number, naming the tag", () => {
    assert.throws(
      () => parsePromptTags("cat <lora:x:strong>"),
      (err: unknown) =>
        err instanceof LoraTagError &&
        /<lora:x:strong>/.test(err.message) &&
        /not a number/.test(err.message),
    );
    assert.throws(() => parsePromptTags("<lora::1>"), /name is missing/);
  });
});
