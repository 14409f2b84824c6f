/**
 * "This device" mode: the model picker (model-source.ts), the WebGPU capability line, the graph
 * cache, and Generate on the in-tab engine (local-generation.ts) with its progress and results in
 * the page's own gallery. Everything it needs from the engine comes in as LocalEngineDeps; nothing
 * here calls the server, so the page works from any static host.
 */
import { listSamplers } from "../../../src/schedulers/registry.js";
import { SCHEDULE_TYPES } from "../../../src/schedulers/schedule-types.js";
import type { HiresFields, SamplerItem, SchedulerItem } from "../api.js";
import { byId } from "../dom.js";
import type { GenerationForm } from "../form.js";
import type { Gallery } from "../gallery.js";
import type { HiresPanel } from "../hires-fix.js";
import type { InitImagePanel } from "../init-image.js";
import type { ProgressMonitor } from "../progress.js";
import type { StatusLine } from "../status.js";
import { describeSupport } from "./capability-line.js";
import { GraphCachePanel } from "./graph-cache-panel.js";
import { type ManagedGraphStore, openGraphStore, requestPersistence } from "./graph-store.js";
import { LOCAL_HIRES_UPSCALERS } from "./hires-request.js";
import type { LocalEngineDeps } from "./local-engine-api.js";
import { LocalRunner } from "./local-generation.js";
import { ModelSource } from "./model-source.js";
import { TaesdSource } from "./taesd-source.js";

/** The samplers and schedule types sdlite's own registry knows (what the engine accepts by name). */
export function localSamplers(): SamplerItem[] {
  return listSamplers().map((s) => ({ name: s.name, aliases: s.aliases }));
}

export function localSchedulers(): SchedulerItem[] {
  return SCHEDULE_TYPES.map((t) => ({ name: t.name, label: t.label, aliases: [...t.aliases] }));
}

/** The Hires fix section's fields for a job, when it is on. */
function hiresJob(hires: HiresPanel): { hires?: HiresFields } {
  const fields = hires.fields();
  return "enable_hr" in fields ? { hires: fields as HiresFields } : {};
}

export interface LocalModeParts {
  form: GenerationForm;
  initImage: InitImagePanel;
  hires: HiresPanel;
  gallery: Gallery;
  progress: ProgressMonitor;
  status: StatusLine;
}

export class LocalMode {
  private readonly capability = byId("local-capability", HTMLParagraphElement);
  private readonly warning = byId("local-backend-warning", HTMLParagraphElement);
  private readonly models: ModelSource;
  private readonly taesd: TaesdSource;
  private readonly runner: LocalRunner;
  private graphStore: Promise<ManagedGraphStore> | undefined;
  private cachePanel: GraphCachePanel | undefined;
  private entered: Promise<void> | undefined;
  private controller: AbortController | undefined;

  constructor(
    deps: LocalEngineDeps,
    private readonly parts: LocalModeParts,
  ) {
    const { status } = parts;
    this.models = new ModelSource({
      onMessage: (text) => status.info(text),
      onError: (err) => status.error(err),
      onChange: () => void this.runner.close(),
      onTaesd: (files) => this.taesd.addFiles(files),
    });
    this.taesd = new TaesdSource({
      onMessage: (text) => status.info(text),
      onChange: () => void this.runner.close(),
    });
    this.runner = new LocalRunner(deps, this.store(), (message, fraction) => {
      status.info(message);
      if (fraction !== undefined) parts.progress.update(fraction, message);
    });
  }

  private store(): Promise<ManagedGraphStore> {
    this.graphStore ??= openGraphStore();
    return this.graphStore;
  }

  /** The first time: lists stored models, asks for persistent storage, shows the WebGPU line. */
  enter(): Promise<void> {
    const { form, status } = this.parts;
    form.setSamplers(localSamplers());
    form.setSchedulers(localSchedulers());
    // the Latent modes and the resamplers: upscaler model files are the server's
    this.parts.hires.setUpscalers(undefined, LOCAL_HIRES_UPSCALERS);
    this.entered ??= (async () => {
      this.cachePanel = new GraphCachePanel(this.store(), requestPersistence(), {
        onMessage: (text) => status.info(text),
        onError: (err) => status.error(err),
        onCleared: () => void this.runner.close(),
      });
      const restored = this.models.restore().catch((err: unknown) => status.error(err));
      const taesd = this.taesd.restore().catch((err: unknown) => status.error(err));
      await Promise.all([restored, taesd, this.cachePanel.refresh(), this.showSupport()]);
    })();
    return this.entered;
  }

  private async showSupport(): Promise<void> {
    const { capability, warning } = describeSupport(await this.runner.support());
    this.capability.textContent = capability;
    this.warning.textContent = warning ?? "";
    this.warning.hidden = warning === undefined;
  }

  /** Model files dropped elsewhere on the page go to the picker, as if dropped on it. */
  addModelFiles(files: File[]): Promise<void> {
    return this.models.addFiles(files);
  }

  cancel(): void {
    this.controller?.abort();
  }

  /** Generates with the form's values; says what happened on the status line. */
  async generate(): Promise<{ seed?: number }> {
    const { form, initImage, hires, gallery, progress, status } = this.parts;
    const checkpoint = await this.models.current();
    if (!checkpoint) {
      status.error("Choose a checkpoint first: drop a .safetensors file or download one from the hub");
      return {};
    }
    const settings = form.settings();
    const job = {
      settings,
      img2img: initImage.fields(settings.width, settings.height),
      denoisingStrength: form.denoisingStrength(),
      ...hiresJob(hires),
      embeddings: this.models.currentEmbeddings(),
    };
    const controller = new AbortController();
    this.controller = controller;
    const taesd = this.taesd.current();
    status.info(
      `Generating on this device with ${checkpoint.label}…${taesd ? "" : " (no live previews without TAESD)"}`,
    );
    progress.startLocal();
    const started = performance.now();
    let lastSeed: number | undefined;
    try {
      const made = await this.runner.run(
        checkpoint,
        this.models.currentLoras(),
        job,
        (batchNo, batches, step, total) => {
          // as the server's progress says it (progress.ts): one batch of batch size images at a time
          const batch = batches > 1 ? `Batch ${batchNo + 1}/${batches} · ` : "";
          progress.update((batchNo + step / Math.max(1, total)) / batches, `${batch}Step ${step}/${total}`);
        },
        controller.signal,
        (item) => {
          gallery.add([item]);
          lastSeed ??= item.seed;
        },
        taesd && { taesd, onPreview: (png) => progress.showPreview(png) },
      );
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      status.info(`Done on this device: ${made} image${made === 1 ? "" : "s"} in ${seconds} s`);
    } catch (err) {
      if (controller.signal.aborted) status.info("Cancelled");
      else status.error(err);
    } finally {
      this.controller = undefined;
      progress.stop();
      void this.cachePanel?.refresh();
    }
    return { seed: lastSeed };
  }
}
