/**
 * Results gallery: each image with the parameters it was made with (info.infotexts), and actions
 * to copy them, reuse them, send the image to img2img and download it. Results are kept in the
 * browser (history.ts), so a reload shows them again.
 */
import { type GenerationResponse, parseGenerationInfo } from "./api.js";
import { byId, el } from "./dom.js";
import type { ResultHistory } from "./history.js";
import { base64ToBlob, pngDataUrl } from "./image-data.js";

export interface GalleryItem {
  /** Base64 PNG. */
  readonly image: string;
  /** A1111 infotext; "" when the server sent none. */
  readonly infotext: string;
  readonly seed?: number;
  /** An image stopped early (Cancel, Skip): the steps it ran, of how many. */
  readonly stoppedAt?: { readonly step: number; readonly of: number };
}

/** The images of a txt2img/img2img answer with their infotexts and seeds; A1111's grid image is left out. */
export function resultsFromResponse(response: GenerationResponse): GalleryItem[] {
  const info = parseGenerationInfo(response.info);
  const first = info.index_of_first_image ?? 0;
  return (response.images ?? []).slice(first).map((image, i) => {
    const stoppedAt = info.sdlite_stopped_at?.[i];
    return {
      image,
      infotext: info.infotexts?.[first + i] ?? info.infotexts?.[i] ?? "",
      seed: info.all_seeds?.[i] ?? (i === 0 ? info.seed : undefined),
      ...(stoppedAt ? { stoppedAt: { step: stoppedAt.step, of: stoppedAt.of } } : {}),
    };
  });
}

/** "Stopped after step 7 of 20": the infotext names the steps asked for, as A1111's does. */
export function stoppedLabel(item: GalleryItem): string | undefined {
  return item.stoppedAt ? `Stopped after step ${item.stoppedAt.step} of ${item.stoppedAt.of}` : undefined;
}

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // plain http on a LAN address is not a secure context: the old way still works there
  const area = el("textarea", { readonly: "", style: "position:fixed;opacity:0" });
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("the browser refused to copy");
}

export class Gallery {
  private readonly list = byId("gallery", HTMLDivElement);
  private readonly empty = byId("gallery-empty", HTMLParagraphElement);
  private readonly objectUrls: string[] = [];
  private counter = 0;

  constructor(
    private readonly events: {
      onSendToImg2Img(dataUrl: string): void;
      onUseParameters(infotext: string): void;
      onMessage(text: string): void;
      onError(err: unknown): void;
    },
    private readonly history?: ResultHistory,
  ) {
    byId("gallery-clear", HTMLButtonElement).addEventListener("click", () => this.clear());
  }

  /** Newest first, in the order the server returned them; kept for the next visit. */
  add(items: readonly GalleryItem[]): void {
    this.show(items);
    this.history?.add(items).catch((err: unknown) => this.events.onError(err));
  }

  /** Shows the results kept from earlier visits (before anything new is added). */
  async restore(): Promise<void> {
    if (!this.history) return;
    const kept = await this.history.load();
    this.show(kept.reverse());
  }

  clear(): void {
    this.list.replaceChildren();
    for (const url of this.objectUrls.splice(0)) URL.revokeObjectURL(url);
    this.empty.hidden = false;
    this.history?.clear().catch((err: unknown) => this.events.onError(err));
  }

  private show(items: readonly GalleryItem[]): void {
    const cards = items.map((item) => this.card(item));
    this.list.prepend(...cards);
    this.empty.hidden = this.list.childElementCount > 0;
  }

  private card(item: GalleryItem): HTMLElement {
    this.counter++;
    const url = URL.createObjectURL(base64ToBlob(item.image));
    this.objectUrls.push(url);
    const seedText = item.seed === undefined ? "" : `-${item.seed}`;
    const stopped = stoppedLabel(item);
    const image = el("img", {
      src: pngDataUrl(item.image),
      alt: `Result ${this.counter}${seedText}${stopped ? ` (${stopped.toLowerCase()})` : ""}`,
    });
    const button = (action: string, label: string, onClick: () => void | Promise<void>) => {
      const b = el("button", { type: "button", "data-action": action }, [label]);
      b.addEventListener("click", async () => {
        try {
          await onClick();
        } catch (err) {
          this.events.onError(err);
        }
      });
      return b;
    };
    const actions = el("div", { class: "result-actions" }, [
      button("copy", "Copy parameters", async () => {
        await copyText(item.infotext);
        this.events.onMessage("Parameters copied");
      }),
      button("use", "Use parameters", () => this.events.onUseParameters(item.infotext)),
      button("img2img", "Send to img2img", () => this.events.onSendToImg2Img(pngDataUrl(item.image))),
      el(
        "a",
        {
          class: "button",
          "data-action": "download",
          href: url,
          download: `sdlite-${String(this.counter).padStart(5, "0")}${seedText}.png`,
        },
        ["Download"],
      ),
    ]);
    for (const b of actions.querySelectorAll<HTMLButtonElement>(
      "button[data-action=copy], button[data-action=use]",
    )) {
      b.disabled = !item.infotext;
    }
    return el(
      "figure",
      { class: "result", "data-seed": item.seed === undefined ? undefined : String(item.seed) },
      [
        el("a", { href: url, target: "_blank", rel: "noopener", class: "result-image" }, [image]),
        el("figcaption", {}, [
          ...(stopped ? [el("p", { class: "stopped" }, [stopped])] : []),
          el("pre", { class: "infotext" }, [item.infotext || "(no parameters)"]),
          actions,
        ]),
      ],
    );
  }
}
