/**
 * Entry point: builds the page's parts and wires them to each other and to where images are made:
 * the A1111 API of the server ("Server" mode) or the in-tab engine ("This device", web/src/local/).
 */

import { parseInfotext } from "../../src/image/infotext.js";
import { readPngText } from "../../src/image/png-chunks.js";
import { A1111Client, ApiError, type Img2ImgRequest } from "./api.js";
import { ApiKeyDialog } from "./api-key.js";
import { type AppMode, ModeSwitch, storedMode } from "./app-mode.js";
import { byId } from "./dom.js";
import { GenerationForm } from "./form.js";
import { Gallery, resultsFromResponse } from "./gallery.js";
import { HiresPanel } from "./hires-fix.js";
import { ResultHistory } from "./history.js";
import { InitImagePanel } from "./init-image.js";
import { localEngineDeps } from "./local/engine-deps.js";
import { LocalMode } from "./local/local-mode.js";
import { LoraPicker } from "./lora-picker.js";
import { ModelPicker } from "./model-picker.js";
import { installPngDrop, type PngInfoReader } from "./png-drop.js";
import { ProfilePanel } from "./profile-panel.js";
import { ProgressMonitor } from "./progress.js";
import { StatusLine } from "./status.js";

const api = new A1111Client("", new ApiKeyDialog());
const status = new StatusLine();
const form = new GenerationForm();
const loraPicker = new LoraPicker(form.prompt);
const hires = new HiresPanel();
const progress = new ProgressMonitor(api);
const profilePanel = new ProfilePanel(api);
const generateButton = byId("generate", HTMLButtonElement);
const cancelButton = byId("cancel", HTMLButtonElement);
const skipButton = byId("skip", HTMLButtonElement);
const reuseSeedButton = byId("seed-reuse", HTMLButtonElement);
const showError = (err: unknown) => status.error(err);

const initImage = new InitImagePanel({
  onImage: (width, height) => form.setSize(width, height),
  onError: showError,
});

const models = new ModelPicker(api, {
  onSwitching: (title) => {
    generateButton.disabled = true;
    status.info(`Loading ${title}…`);
  },
  onSwitched: (title) => {
    generateButton.disabled = false;
    status.info(`Loaded ${title}`);
  },
  onError: (err) => {
    generateButton.disabled = false;
    showError(err);
  },
});

function applyParameters(infotext: string, source: string): void {
  const problems = form.applyInfotext(infotext);
  hires.applyParameters(parseInfotext(infotext).parameters);
  status.info(`Parameters from ${source}${problems.length ? ` (${problems.join("; ")})` : ""}`);
}

const gallery = new Gallery(
  {
    onSendToImg2Img: (dataUrl) => {
      void initImage.setImage(dataUrl).then(() => status.info("Image sent to img2img"), showError);
    },
    onUseParameters: (infotext) => applyParameters(infotext, "the result"),
    onMessage: (text) => status.info(text),
    onError: showError,
  },
  new ResultHistory(),
);

const local = new LocalMode(localEngineDeps, { form, initImage, hires, gallery, progress, status });

/** In "This device" mode a dropped PNG's parameters are read in the page, not by the server. */
const pngReader: PngInfoReader = {
  async pngInfo(imageBase64) {
    if (modeSwitch.mode !== "local") return api.pngInfo(imageBase64);
    const bytes = Uint8Array.from(atob(imageBase64), (c) => c.charCodeAt(0));
    return { info: readPngText(bytes).parameters ?? "" };
  },
};

installPngDrop(pngReader, {
  onParameters: (infotext, fileName) => applyParameters(infotext, fileName),
  onModelFiles: (files) => {
    if (modeSwitch.mode === "local") void local.addModelFiles(files);
    else
      status.info(
        `${files[0].name}: model files are used in "This device" mode; the server has its own models`,
      );
  },
  onMessage: (text) => status.info(text),
  onError: showError,
});

let lastSeed: number | undefined;
let cancelled = false;

function setBusy(busy: boolean): void {
  document.body.dataset.busy = String(busy);
  generateButton.disabled = busy;
  cancelButton.hidden = !busy;
  cancelButton.disabled = false;
  skipButton.hidden = !busy || modeSwitch.mode === "local";
  skipButton.disabled = false;
  models.disabled = busy;
  modeSwitch.disabled = busy;
}

async function generateLocal(): Promise<void> {
  cancelled = false;
  setBusy(true);
  try {
    const { seed } = await local.generate();
    if (seed !== undefined) lastSeed = seed;
    reuseSeedButton.disabled = lastSeed === undefined;
  } finally {
    setBusy(false);
  }
}

async function generate(): Promise<void> {
  if (modeSwitch.mode === "local") return generateLocal();
  const settings = form.settings();
  const img2img = initImage.fields(settings.width, settings.height);
  cancelled = false;
  setBusy(true);
  status.info(
    img2img
      ? img2img.width !== undefined
        ? "Outpainting…"
        : img2img.mask
          ? "Inpainting…"
          : "Generating from the image…"
      : "Generating…",
  );
  progress.start();
  const started = performance.now();
  try {
    const response = img2img
      ? await api.img2img({
          ...settings,
          ...img2img,
          denoising_strength: form.denoisingStrength(),
        } satisfies Img2ImgRequest)
      : await api.txt2img({ ...settings, ...hires.fields() });
    const items = resultsFromResponse(response);
    gallery.add(items);
    if (items[0]?.seed !== undefined) lastSeed = items[0].seed;
    reuseSeedButton.disabled = lastSeed === undefined;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const count = `${items.length} image${items.length === 1 ? "" : "s"}`;
    const stopped = items.filter((i) => i.stoppedAt).length;
    const early = stopped > 0 && !cancelled ? ` (${stopped} stopped early)` : "";
    status.info(cancelled ? `Cancelled (${count} returned)` : `Done: ${count} in ${seconds} s${early}`);
  } catch (err) {
    if (cancelled) status.info("Cancelled");
    else showError(err);
  } finally {
    progress.stop();
    setBusy(false);
  }
}

form.form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (!generateButton.disabled) void generate();
});
for (const area of [form.prompt, form.negativePrompt]) {
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.form.requestSubmit();
    }
  });
}
cancelButton.addEventListener("click", () => {
  cancelled = true;
  cancelButton.disabled = true;
  status.info("Cancelling…");
  if (modeSwitch.mode === "local") local.cancel();
  else api.interrupt().catch(showError);
});
skipButton.addEventListener("click", () => {
  // the server ends the image being made (after its current step) and goes on with the next
  api.skip().then(() => status.info("Skipping this image…"), showError);
});
reuseSeedButton.addEventListener("click", () => {
  if (lastSeed !== undefined) form.setSeed(lastSeed);
});

/**
 * Fills the pickers from the server; a missing optional endpoint (e.g. /loras) only hides its picker.
 * Returns whether an API answered at all.
 */
async function loadServerLists(): Promise<boolean> {
  const [samplers, schedulers, sdModels, options, loras, latentModes, upscalers] = await Promise.allSettled([
    api.samplers(),
    api.schedulers(),
    api.sdModels(),
    api.options(),
    api.loras(),
    // hires upscalers: optional lists (a server without them keeps the built-in Latent modes)
    api.latentUpscaleModes(),
    api.upscalers(),
    profilePanel.load(),
  ]);
  const names = (r: PromiseSettledResult<{ name: string }[]>) =>
    r.status === "fulfilled" && Array.isArray(r.value) ? r.value : undefined;
  hires.setUpscalers(
    names(latentModes)?.map((m) => m.name),
    names(upscalers) ?? [],
  );
  if (samplers.status === "fulfilled") form.setSamplers(samplers.value);
  else showError(samplers.reason);
  // A1111 before 1.9 has no /schedulers: its samplers carry the schedule in their names
  form.setSchedulers(
    schedulers.status === "fulfilled" && Array.isArray(schedulers.value) ? schedulers.value : [],
  );
  if (sdModels.status === "fulfilled") {
    const loaded = options.status === "fulfilled" ? options.value.sd_model_checkpoint : undefined;
    models.setModels(sdModels.value, typeof loaded === "string" ? loaded : undefined);
  } else {
    showError(sdModels.reason);
  }
  loraPicker.setLoras(loras.status === "fulfilled" && Array.isArray(loras.value) ? loras.value : []);
  return apiAnswered(samplers);
}

/** Whether an A1111 API answered /samplers: a static host has none (404, or its index page instead of JSON). */
function apiAnswered(samplers: PromiseSettledResult<unknown>): boolean {
  if (samplers.status === "fulfilled") return Array.isArray(samplers.value);
  const err = samplers.reason;
  return !(err instanceof ApiError) || (err.status !== 0 && err.status !== 404 && err.status !== 405);
}

/** Resolves to whether the mode works here (for "server": whether an API answered). */
function enterMode(mode: AppMode): Promise<boolean> {
  if (mode === "local")
    return local.enter().then(
      () => true,
      (err: unknown) => {
        showError(err);
        return true;
      },
    );
  status.clear();
  return loadServerLists();
}

let entered: Promise<boolean> = Promise.resolve(true);
const modeSwitch = new ModeSwitch((mode) => {
  entered = enterMode(mode);
});

/** The mode chosen on an earlier visit; else "Server" when an API answers, "This device" when none does. */
async function startMode(): Promise<void> {
  const kept = storedMode();
  modeSwitch.set(kept ?? "server");
  if (!(await entered) && kept === undefined) {
    // the page's own fallback, not the user's choice: a later visit asks the server again
    modeSwitch.set("local");
    await entered;
    status.info("No server answers at this address: images are made on this device");
  }
}

setBusy(false);
reuseSeedButton.disabled = true;
const restored = gallery.restore().catch((err: unknown) => {
  // private windows and some embedded browsers have no IndexedDB: results then last for the visit
  status.error(
    `Earlier results could not be read from this browser's storage: ${err instanceof Error ? err.message : String(err)}`,
  );
});
void Promise.all([startMode(), restored]).finally(() => {
  document.body.dataset.ready = "true";
});
