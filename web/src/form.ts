/**
 * The generation settings form: reads it into an A1111 txt2img body and fills it back from an
 * infotext (a dropped PNG, a gallery result).
 */
import { parseInfotext } from "../../src/image/infotext.js";
import type { SamplerItem, SchedulerItem, Txt2ImgRequest } from "./api.js";
import { byId, el } from "./dom.js";
import { CUSTOM_PRESET, parsePresetValue, presetValue, SIZE_PRESETS, snapSide } from "./size-presets.js";

function clampInt(value: number, min: number, max: number, fallback: number): number {
  if (!Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, Math.round(value)));
}

const isAutomatic = (schedule: string) => /^(automatic|default)$/i.test(schedule);

/** The sampler option for an infotext's Sampler (+ Schedule type), also old "DPM++ 2M Karras" names. */
export function matchSampler(
  samplers: readonly SamplerItem[],
  sampler: string,
  scheduleType?: string,
): string | undefined {
  const wanted = [
    scheduleType && !isAutomatic(scheduleType) ? `${sampler} ${scheduleType}` : undefined,
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

/** The schedule entry for a name, label or alias, any case. */
export function matchScheduler(
  schedulers: readonly SchedulerItem[],
  schedule: string,
): SchedulerItem | undefined {
  const lower = schedule.trim().toLowerCase();
  return schedulers.find((s) =>
    [s.label, s.name, ...(s.aliases ?? [])].some((n) => n.toLowerCase() === lower),
  );
}

export class GenerationForm {
  readonly form = byId("gen-form", HTMLFormElement);
  readonly prompt = byId("prompt", HTMLTextAreaElement);
  readonly negativePrompt = byId("negative-prompt", HTMLTextAreaElement);
  private readonly sampler = byId("sampler", HTMLSelectElement);
  private readonly scheduler = byId("scheduler", HTMLSelectElement);
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
  private schedulers: SchedulerItem[] = [];

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

  /** Shows the Schedule type picker (A1111 ≥ 1.9 servers list /schedulers; older ones have none). */
  setSchedulers(schedulers: SchedulerItem[]): void {
    const previous = this.scheduler.value;
    this.schedulers = schedulers;
    this.scheduler.replaceChildren(...schedulers.map((s) => el("option", { value: s.label }, [s.label])));
    const keep = schedulers.find((s) => s.label === previous) ?? schedulers.find((s) => isAutomatic(s.name));
    if (keep) this.scheduler.value = keep.label;
    const shown = schedulers.length > 0;
    byId("scheduler-field", HTMLLabelElement).hidden = !shown;
    byId("sampler-field", HTMLLabelElement).classList.toggle("wide", !shown);
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
      ...(this.schedulers.length > 0 ? { scheduler: this.scheduler.value } : {}),
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
    const schedule = p["Schedule type"] === undefined ? undefined : String(p["Schedule type"]);
    if (p.Sampler !== undefined && this.schedulers.length > 0) {
      const problem = this.applySamplerAndSchedule(String(p.Sampler), schedule);
      if (problem) problems.push(problem);
    } else if (p.Sampler !== undefined) {
      const name = matchSampler(this.samplers, String(p.Sampler), schedule);
      if (name && schedule && !isAutomatic(schedule) && !name.endsWith(schedule)) {
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

  /**
   * Sets the sampler and the Schedule type picker; an old combined name ("DPM++ 2M Karras", no
   * Schedule type) is split. Returns what could not be applied.
   */
  private applySamplerAndSchedule(sampler: string, scheduleType: string | undefined): string | undefined {
    let name = matchSampler(this.samplers, sampler);
    let schedule = scheduleType;
    if (!name && scheduleType === undefined) {
      for (const s of this.schedulers) {
        const suffix = ` ${s.label}`;
        const base = sampler.toLowerCase().endsWith(suffix.toLowerCase())
          ? matchSampler(this.samplers, sampler.slice(0, -suffix.length))
          : undefined;
        if (base) {
          name = base;
          schedule = s.label;
          break;
        }
      }
    }
    if (!name) return `sampler "${sampler}" is not available here`;
    this.sampler.value = name;
    const entry = matchScheduler(this.schedulers, schedule ?? "Automatic");
    if (entry) this.scheduler.value = entry.label;
    else if (schedule && !isAutomatic(schedule)) return `schedule type "${schedule}" is not available here`;
    return undefined;
  }
}
