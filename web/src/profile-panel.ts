/**
 * The "Profile" panel: the last `sdlite profile` report the server has (per stage: calls, GFLOP,
 * bytes moved, measured seconds and share, where the roofline puts it; images/s on each what-if
 * hardware) with its two SVG charts. Hidden against servers without the endpoint (A1111); a hint
 * when sdlite has no profile yet (204). Charts are fetched like the JSON (with the API key) and shown
 * from blob URLs.
 */
import type { A1111Client } from "./api.js";
import { byId, el } from "./dom.js";

/** The parts of the report (src/profile/profile-report.ts) this panel shows. */
interface ProfileView {
  createdAt: string;
  model: string;
  optionsLabel: string;
  settings: { width: number; height: number; steps: number; guidance: number };
  machine?: { cpuModel: string; matmulFlopsPerSecond: number; memoryBytesPerSecond: number };
  stages: {
    title: string;
    calls: number;
    total: { flops: number; weightBytes: number; readBytes: number; writeBytes: number };
    measuredSeconds?: number;
    share?: number;
    machine?: { bound: string; percentOfAttainable: number };
  }[];
  image: { measuredSeconds?: number; hardware: Record<string, { seconds: number; imagesPerSecond: number }> };
}

const fixed = (v: number | undefined, digits: number) => (v === undefined ? "—" : v.toFixed(digits));

export class ProfilePanel {
  private readonly panel = byId("profile-panel", HTMLDetailsElement);
  private readonly caption = byId("profile-caption", HTMLParagraphElement);
  private readonly table = byId("profile-stages", HTMLTableElement);
  private readonly whatIf = byId("profile-what-if", HTMLUListElement);
  private readonly charts = [
    { img: byId("profile-stages-chart", HTMLImageElement), file: "/stages.svg" as const },
    { img: byId("profile-roofline-chart", HTMLImageElement), file: "/roofline.svg" as const },
  ];
  private urls: string[] = [];

  constructor(private readonly api: A1111Client) {
    byId("profile-reload", HTMLButtonElement).addEventListener("click", () => void this.load());
  }

  async load(): Promise<void> {
    let text: string;
    try {
      text = await this.api.sdliteProfile("");
    } catch {
      this.panel.hidden = true; // a server without profiles (AUTOMATIC1111)
      return;
    }
    this.panel.hidden = false;
    if (text === "") {
      this.showEmpty();
      return;
    }
    const report = JSON.parse(text) as ProfileView;
    this.render(report);
    await this.loadCharts();
  }

  private showEmpty(): void {
    this.caption.textContent = "No profile yet: run `sdlite profile` on the server's machine, then reload.";
    this.table.replaceChildren();
    this.whatIf.replaceChildren();
    for (const { img } of this.charts) img.hidden = true;
  }

  private render(r: ProfileView): void {
    const s = r.settings;
    const where = r.machine
      ? ` Measured on ${r.machine.cpuModel} (matmul ${fixed(r.machine.matmulFlopsPerSecond / 1e9, 0)} GFLOP/s, memory ${fixed(r.machine.memoryBytesPerSecond / 1e9, 1)} GB/s).`
      : " Counted only (not timed).";
    this.caption.textContent = `${r.model}${r.optionsLabel ? ` ${r.optionsLabel}` : ""}: ${s.width}x${s.height}, ${s.steps} steps, CFG ${s.guidance}; ${new Date(r.createdAt).toLocaleString()}.${where}`;
    const head = el(
      "tr",
      {},
      ["stage", "calls", "GFLOP", "GB moved", "seconds", "share", "bound", "of attainable"].map((h) =>
        el("th", { scope: "col" }, [h]),
      ),
    );
    const rows = r.stages.map((st) => {
      const moved = st.total.weightBytes + st.total.readBytes + st.total.writeBytes;
      return el("tr", {}, [
        el("th", { scope: "row" }, [st.title]),
        el("td", {}, [String(st.calls)]),
        el("td", {}, [fixed(st.total.flops / 1e9, 1)]),
        el("td", {}, [fixed(moved / 1e9, 2)]),
        el("td", {}, [fixed(st.measuredSeconds, 2)]),
        el("td", {}, [st.share === undefined ? "—" : `${fixed(100 * st.share, 1)} %`]),
        el("td", {}, [st.machine?.bound ?? "—"]),
        el("td", {}, [st.machine ? `${fixed(st.machine.percentOfAttainable, 1)} %` : "—"]),
      ]);
    });
    this.table.replaceChildren(el("thead", {}, [head]), el("tbody", {}, rows));
    this.whatIf.replaceChildren(
      ...Object.entries(r.image.hardware).map(([name, h]) =>
        el("li", {}, [
          `${name}: ${fixed(h.seconds, 3)} s per image (${fixed(h.imagesPerSecond, 2)} images/s)`,
        ]),
      ),
    );
  }

  private async loadCharts(): Promise<void> {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
    for (const { img, file } of this.charts) {
      const svg = await this.api.sdliteProfile(file);
      const url = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" }));
      this.urls.push(url);
      img.src = url;
      img.hidden = false;
    }
  }
}
