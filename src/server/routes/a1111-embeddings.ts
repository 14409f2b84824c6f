/**
 * Textual-inversion embeddings as A1111 lists them (modules/api/api.py get_embeddings): `loaded`
 * are those the current model's text encoder can use, `skipped` those of another width, each as
 * `{step, sd_checkpoint, sd_checkpoint_name, shape, vectors}` under its name. Before any model is
 * open every embedding counts as loaded, as in A1111 before it knows the expected shape.
 */
import type { FastifyInstance } from "fastify";
import type { TextualInversionEmbedding } from "../../embeddings/embedding-file.js";
import { selectEmbeddings } from "../../embeddings/embedding-lookup.js";
import type { ServerContext } from "../server-context.js";

const tags = ["A1111"];

function describe(list: readonly TextualInversionEmbedding[]) {
  return Object.fromEntries(
    list.map((e) => [
      e.name,
      {
        step: e.step,
        sd_checkpoint: e.sdCheckpoint,
        sd_checkpoint_name: e.sdCheckpointName,
        shape: e.width,
        vectors: e.vectors,
      },
    ]),
  );
}

export function a1111EmbeddingRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const listing = (force: boolean) => {
    const width = ctx.executor.latestModel()?.textEncoderWidth;
    const { loaded, skipped } = selectEmbeddings(ctx.embeddings.current(force).embeddings, width);
    return { loaded: describe(loaded), skipped: describe(skipped) };
  };
  app.get(
    "/sdapi/v1/embeddings",
    { schema: { tags, summary: "Textual-inversion embeddings in the embeddings folder" } },
    async () => listing(false),
  );
  app.post(
    "/sdapi/v1/refresh-embeddings",
    { schema: { tags, summary: "Re-read the embeddings folder" } },
    async () => {
      listing(true);
      return null;
    },
  );
}
