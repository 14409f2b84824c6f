/** Which request fields are reported as accepted-but-ignored (info.sdlite_ignored_fields). */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { HONOURED_FIELDS, IGNORED_FIELD_DEFAULTS, ignoredFields } from "../src/server/a1111-fields.js";

describe("ignoredFields", () => {
  it("lists unsupported fields only when set to something that would change A1111's result", () => {
    assert.deepEqual(
      ignoredFields({
        prompt: "cat",
        steps: 20,
        restore_faces: true,
        tiling: false,
        subseed: -1,
        subseed_strength: 0.3,
        styles: [],
        alwayson_scripts: {},
        script_name: null,
        s_noise: 1,
        eta: 0.5,
        my_extension_field: "x",
      }),
      ["eta", "my_extension_field", "restore_faces", "subseed_strength"],
    );
  });

  it("hires-fix and mask fields count only when hires fix is on / a mask is given", () => {
    const hires = {
      hr_scale: 1.5,
      hr_upscaler: "Latent",
      hr_second_pass_steps: 10,
      mask_round: false,
      latent_mask: "iVBOR...",
    };
    assert.deepEqual(ignoredFields(hires), []);
    // the hires fix itself is honoured; another checkpoint for the second pass is not
    assert.deepEqual(ignoredFields({ ...hires, enable_hr: true }), []);
    assert.deepEqual(
      ignoredFields({ ...hires, enable_hr: true, hr_checkpoint_name: "other", firstphase_width: 256 }),
      ["firstphase_width", "hr_checkpoint_name"],
    );
    assert.deepEqual(ignoredFields({ hr_checkpoint_name: "other" }), [], "without enable_hr: silent");
    assert.deepEqual(ignoredFields({ ...hires, mask: "iVBOR..." }), ["latent_mask", "mask_round"]);
  });

  it("A1111's inpainting fields are honoured, with or without a mask", () => {
    const inpainting = {
      mask: "iVBOR...",
      mask_blur: 8,
      mask_blur_x: 2,
      mask_blur_y: 3,
      inpainting_fill: 2,
      inpaint_full_res: false,
      inpaint_full_res_padding: 32,
      inpainting_mask_invert: 1,
    };
    assert.deepEqual(ignoredFields(inpainting), []);
  });

  it("false is reported where A1111's default is true", () => {
    assert.deepEqual(ignoredFields({ override_settings_restore_afterwards: true, mask_round: true }), []);
    assert.deepEqual(ignoredFields({ override_settings_restore_afterwards: false }), [
      "override_settings_restore_afterwards",
    ]);
  });
});

describe("the README's list of ignored A1111 fields", () => {
  it("is the server's own list, field for field", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const start = readme.indexOf("<!-- ignored-fields:start -->");
    const end = readme.indexOf("<!-- ignored-fields:end -->");
    assert.ok(start >= 0 && end > start, "README.md marks the list with ignored-fields:start/end comments");
    const listed = [...readme.slice(start, end).matchAll(/`([a-z_0-9]+)`/g)].map((m) => m[1]);
    assert.deepEqual([...listed].sort(), Object.keys(IGNORED_FIELD_DEFAULTS).sort());
    assert.equal(new Set(listed).size, listed.length, "each field once");
    for (const field of listed) assert.ok(!HONOURED_FIELDS.has(field), `${field} is honoured, not ignored`);
  });
});
