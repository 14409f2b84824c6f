/** Checkpoint picker: lists /sd-models, shows the loaded one from /options, switches by POSTing it. */
import type { A1111Client, SdModelItem } from "./api.js";
import { byId, el } from "./dom.js";

/**
 * What the picker shows per model: A1111's short `model_name`, or the full title where two models
 * share one (v1-5.ckpt beside v1-5.safetensors), so no entry looks listed twice.
 */
export function modelLabels(models: readonly SdModelItem[]): string[] {
  const short = models.map((m) => m.model_name || m.title);
  return short.map((label, i) =>
    short.indexOf(label) !== short.lastIndexOf(label) ? models[i].title : label,
  );
}

export class ModelPicker {
  private readonly select = byId("model", HTMLSelectElement);
  private current = "";

  constructor(
    private readonly api: A1111Client,
    private readonly events: {
      onSwitching(title: string): void;
      onSwitched(title: string): void;
      onError(err: unknown): void;
    },
  ) {
    this.select.addEventListener("change", () => void this.switchTo(this.select.value));
  }

  setModels(models: readonly SdModelItem[], loaded: string | undefined): void {
    const labels = modelLabels(models);
    this.select.replaceChildren(...models.map((m, i) => el("option", { value: m.title }, [labels[i]])));
    // A1111 reports the loaded checkpoint by title; older builds by model name
    const current = models.find((m) => m.title === loaded || m.model_name === loaded);
    if (current) this.select.value = current.title;
    this.current = this.select.value;
    this.select.disabled = models.length === 0;
  }

  set disabled(value: boolean) {
    this.select.disabled = value || this.select.options.length === 0;
  }

  private async switchTo(title: string): Promise<void> {
    if (title === this.current) return;
    this.events.onSwitching(title);
    try {
      await this.api.setOptions({ sd_model_checkpoint: title });
      this.current = title;
      this.events.onSwitched(title);
    } catch (err) {
      this.select.value = this.current;
      this.events.onError(err);
    }
  }
}
