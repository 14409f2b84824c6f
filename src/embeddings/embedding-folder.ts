/**
 * A folder of textual-inversion embeddings (A1111's `embeddings/`): every `.pt`, `.bin` and
 * `.safetensors` file in it and its subfolders, read once and re-read when the files change (A1111
 * checks before each generation). A file that cannot be read is reported, never fatal; images
 * (A1111's preview PNGs, or embeddings hidden in PNG/WebP) are passed over.
 */
import { readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { EMBEDDING_EXTENSIONS, readEmbeddingFile, type TextualInversionEmbedding } from "./embedding-file.js";
import { listEmbeddings } from "./embedding-lookup.js";

export interface EmbeddingFailure {
  readonly path: string;
  readonly error: string;
}

export interface EmbeddingFolderContents {
  /** By name, sorted case-insensitively as A1111 lists them; a later file of the same name wins. */
  readonly embeddings: readonly TextualInversionEmbedding[];
  readonly failures: readonly EmbeddingFailure[];
}

interface Listed {
  readonly path: string;
  readonly signature: string;
}

/** Embedding files under `dir`, depth first in name order; a missing folder has none. */
function listFiles(dir: string): Listed[] {
  const out: Listed[] = [];
  const walk = (folder: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(folder).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(folder, name);
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(path); // follows links, as A1111's os.walk(followlinks=True)
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        if (depth < 16) walk(path, depth + 1);
      } else if (st.isFile() && st.size > 0 && EMBEDDING_EXTENSIONS.includes(extname(name).toLowerCase())) {
        out.push({ path, signature: `${path}\0${st.size}\0${st.mtimeMs}` });
      }
    }
  };
  walk(dir, 0);
  return out;
}

export function readEmbeddingFolder(dir: string): EmbeddingFolderContents {
  const read: TextualInversionEmbedding[] = [];
  const failures: EmbeddingFailure[] = [];
  for (const { path } of listFiles(dir)) {
    try {
      read.push(readEmbeddingFile(path));
    } catch (err) {
      failures.push({ path, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return { embeddings: listEmbeddings(read), failures };
}

/** A folder read on first use and again whenever a file in it was added, removed or changed. */
export class EmbeddingFolder {
  private signature: string | undefined;
  private contents: EmbeddingFolderContents = { embeddings: [], failures: [] };

  constructor(readonly dir: string) {}

  /** The folder's embeddings, re-read if its files changed since the last call (or `force`). */
  current(force = false): EmbeddingFolderContents {
    const signature = listFiles(this.dir)
      .map((f) => f.signature)
      .join("\n");
    if (force || signature !== this.signature) {
      this.contents = readEmbeddingFolder(this.dir);
      this.signature = signature;
    }
    return this.contents;
  }
}
