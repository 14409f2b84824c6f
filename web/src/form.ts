/**
 * The generation settings form: reads it into an A1111 txt2img body and fills it back from an
 * infotext (a dropped PNG, a gallery result).
 */
import { parseInfotext } from "../../src/image/infotext.js";
import type { SamplerItem, Txt2ImgRequest } from "./api.js";
import { byId, el } from "./dom.js";
import { CUSTOM_PRESET, parsePresetValue, presetValue, SIZE_PRESETS, snapSide } from "./size-presets.js";

function clampInt(value: number, min: number, max: number, fallback: number): number {
  if (!Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, Math.round(value)));
}

/** The sampler option for an infotext's Sampler (+ Schedule type), also old "DPM++ 2M Karras" names. */
export function matchSampler(
  samplers: readonly SamplerItem[],
  sampler: string,
  scheduleType?: string,
): string | undefined {
  const wanted = [
    scheduleType && !/^(automatic|default)$/i.test(scheduleType) ? `${sampler} ${scheduleType}` : undefined,
    sampler,
  ].filter((s): s is string => !!s);
  for (const name of wanted) {
    const lower = name.toLowerCase();
    const hit = samplers.find(
      (s) => s.name.toLowerCase() === lower || s.aliases?.some((a) => a.toLowerCase() === lower),
    );
    if (hit) return hit.name;
  }
  return undefined;
}

export class GenerationForm {
  readonly form = byId("gen-form", HTMLFormElement);
  readonly prompt = byId("prompt", HTMLTextAreaElement);
  readonly negativePrompt = byId("negative-prompt", HTMLTextAreaElement);
  private readonly sampler = byId("sampler", HTMLSelectElement);
  private readonly steps = byId("steps", HTMLInputElement);
  private readonly cfg = byId("cfg", HTMLInputElement);
  private readonly seed = byId("seed", HTMLInputElement);
  private readonly sizePreset = byId("size-preset", HTMLSelectElement);
  private readonly width = byId("width", HTMLInputElement);
  private readonly height = byId("height", HTMLInputElement);
  private readonly batchCount = byId("batch-count", HTMLInputElement);
  private readonly batchSize = byId("batch-size", HTMLInputElement);
  private readonly strength = byId("strength", HTMLInputElement);
  private readonly strengthValue = byId("strength-value", HTMLOutputElement);
  private samplers: SamplerItem[] = [];

  constructor() {
    for (const p of SIZE_PRESETS) {
      this.sizePreset.append(el("option", { value: `${p.width}x${p.height}` }, [p.label]));
    }
    this.sizePreset.append(el("option", { value: CUSTOM_PRESET }, ["Custom"]));
    this.sizePreset.addEventListener("change", () => {
      const size = parsePresetValue(this.sizePreset.value);
      if (size) this.setSize(size.width, size.height);
      else this.width.focus();
    });
    for (const input of [this.width, this.height]) {
      // typing keeps the raw value; leaving the field snaps it to a multiple of 8
      input.addEventListener("change", () =>
        this.setSize(Number(this.width.value), Number(this.height.value)),
      );
    }
    this.strength.addEventListener("input", () => this.showStrength());
    byId("seed-random", HTMLButtonElement).addEventListener("click", () => this.setSeed(-1));
    this.setSize(Number(this.width.value), Number(this.height.value));
    this.showStrength();
  }

  setSamplers(samplers: SamplerItem[]): void {
    const previous = this.sampler.value;
    this.samplers = samplers;
    this.sampler.replaceChildren(...samplers.map((s) => el("option", { value: s.name }, [s.name])));
    const keep = samplers.find((s) => s.name === previous) ?? samplers.find((s) => s.name === "Euler a");
    if (keep) this.sampler.value = keep.name;
  }

  setSize(width: number, height: number): void {
    const w = snapSide(width);
    const h = snapSide(height);
    this.width.value = String(w);
    this.height.value = String(h);
    this.sizePreset.value = presetValue(w, h);
  }

  size(): { width: number; height: number } {
    return { width: snapSide(Number(this.width.value)), height: snapSide(Number(this.height.value)) };
  }

  setSeed(seed: number): void {
    this.seed.value = String(seed);
  }

  denoisingStrength(): number {
    const v = Number(this.strength.value);
    return Number.isFinite(v) ? Math.min(1, Math.max(0.01, v)) : 0.75;
  }

  private showStrength(): void {
    this.strengthValue.value = this.denoisingStrength().toFixed(2);
  }

  /** The form as an A1111 txt2img body; out-of-range numbers are clamped, sizes snapped to 8. */
  settings(): Txt2ImgRequest {
    this.setSize(Number(this.width.value), Number(this.height.value));
    const seed = Number(this.seed.value);
    return {
      prompt: this.prompt.value,
      negative_prompt: this.negativePrompt.value,
      seed: Number.isSafeInteger(seed) && seed >= 0 ? seed : -1,
      sampler_name: this.sampler.value,
      steps: clampInt(Number(this.steps.value), 1, 150, 20),
      cfg_scale: Number.isFinite(Number(this.cfg.value)) ? Number(this.cfg.value) : 7,
      ...this.size(),
      n_iter: clampInt(Number(this.batchCount.value), 1, 100, 1),
      batch_size: clampInt(Number(this.batchSize.value), 1, 8, 1),
    };
  }

  /**
   * Fills the form from an A1111 infotext; returns what could not be applied (e.g. a sampler this
   * server lacks) so the caller can say so. Fields the text does not mention stay as they are.
   */
  applyInfotext(text: string): string[] {
    const parsed = parseInfotext(text);
    const p = parsed.parameters;
    const problems: string[] = [];
    this.prompt.value = parsed.prompt;
    this.negativePrompt.value = parsed.negativePrompt;
    const num = (key: string): number | undefined => {
      const v = p[key];
      const n = typeof v === "number" ? v : Number(v);
      return v === undefined || !Number.isFinite(n) ? undefined : n;
    };
    const steps = num("Steps");
    if (steps !== undefined) this.steps.value = String(steps);
    const cfg = num("CFG scale");
    if (cfg !== undefined) this.cfg.value = String(cfg);
    const seed = num("Seed");
    if (seed !== undefined) this.setSeed(seed);
    const size = /^(\d+)x(\d+)$/.exec(String(p.Size ?? ""));
    if (size) this.setSize(Number(size[1]), Number(size[2]));
    const strength = num("Denoising strength");
    if (strength !== undefined) {
      this.strength.value = String(strength);
      this.showStrength();
    }
    if (p.Sampler !== undefined) {
      const schedule = p["Schedule type"] === undefined ? undefined : String(p["Schedule type"]);
      const name = matchSampler(this.samplers, String(p.Sampler), schedule);
      if (name && schedule && !/^(automatic|default)$/i.test(schedule) && !name.endsWith(schedule)) {
        // the server lists samplers without schedules (A1111 ≥ 1.9); the old combined name
        // ("DPM++ 2M Karras") is still accepted as sampler_name, so offer it rather than lose the schedule
        const combined = `${name} ${schedule}`;
        if (![...this.sampler.options].some((o) => o.value === combined)) {
          this.sampler.append(el("option", { value: combined }, [combined]));
        }
        this.sampler.value = combined;
      } else if (name) {
        this.sampler.value = name;
      } else {
        problems.push(`sampler "${p.Sampler}${schedule ? ` ${schedule}` : ""}" is not available here`);
      }
    }
    return problems;
  }
}
