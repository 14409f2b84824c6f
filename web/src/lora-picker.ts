/** LoRA picker: pick a LoRA and a weight, insert `<lora:name:weight>` into the prompt. */
import type { LoraItem } from "./api.js";
import { byId, el } from "./dom.js";
import { withLoraTag } from "./lora-tags.js";

export class LoraPicker {
  private readonly box = byId("lora-picker", HTMLFieldSetElement);
  private readonly select = byId("lora", HTMLSelectElement);
  private readonly weight = byId("lora-weight", HTMLInputElement);

  constructor(prompt: HTMLTextAreaElement) {
    byId("lora-add", HTMLButtonElement).addEventListener("click", () => {
      const name = this.select.value;
      if (!name) return;
      const w = Number(this.weight.value);
      prompt.value = withLoraTag(prompt.value, name, Number.isFinite(w) ? w : 1);
      prompt.dispatchEvent(new Event("input", { bubbles: true }));
    });
  }

  /** An empty list (or a server without the /loras endpoint) hides the picker. */
  setLoras(loras: readonly LoraItem[]): void {
    // the prompt tag uses the name (A1111 also accepts the alias; the name is unambiguous)
    const names = [...new Set(loras.map((l) => l.name))].sort((a, b) => a.localeCompare(b));
    this.select.replaceChildren(...names.map((n) => el("option", { value: n }, [n])));
    this.box.hidden = names.length === 0;
  }
}
