/**
 * The smaller A1111 endpoints clients probe on connect (SillyTavern, Open WebUI, plugins): empty
 * lists where sdlite has nothing of the kind, a ping, and unloading/reloading the checkpoint —
 * queued like any job, so never under a running generation.
 */
import type { FastifyInstance } from "fastify";
import { type ServerContext, toHttpError } from "../server-context.js";

const tags = ["A1111"];

export function a1111ExtraRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get("/internal/ping", { schema: { tags, summary: "Liveness, as A1111 answers it" } }, async () => ({}));
  const empty = (url: string, summary: string, value: () => unknown) =>
    app.get(url, { schema: { tags, summary } }, async () => value());
  empty("/sdapi/v1/face-restorers", "Face restorers (none)", () => []);
  empty("/sdapi/v1/hypernetworks", "Hypernetworks (not supported)", () => []);
  empty("/sdapi/v1/prompt-styles", "Saved prompt styles (none)", () => []);
  empty("/sdapi/v1/scripts", "Scripts (none)", () => ({ txt2img: [], img2img: [] }));
  empty("/sdapi/v1/cmd-flags", "Command-line flags", () => ({}));

  const queued = async (run: () => Promise<unknown>) => {
    try {
      await run();
    } catch (err) {
      throw toHttpError(err);
    }
    return {};
  };
  app.post(
    "/sdapi/v1/unload-checkpoint",
    { schema: { tags, summary: "Close the open pipelines (queued)" } },
    () => queued(() => ctx.submitUnload().finished),
  );
  app.post(
    "/sdapi/v1/reload-checkpoint",
    { schema: { tags, summary: "Load the selected checkpoint again (queued)" } },
    () =>
      queued(async () => {
        const entry = ctx.selectedModel();
        if (entry) await ctx.submitModelLoad(entry).finished;
      }),
  );
}
