/**
 * A session created on first use and released on demand: low-memory mode loads each network only
 * while its stage runs (text encoder, then UNet, then VAE) and frees it after.
 */
import type { Session } from "../runtime/runtime.js";

export class LazySession {
  private pending: Promise<Session> | undefined;

  constructor(private readonly create: () => Promise<Session>) {}

  get(): Promise<Session> {
    this.pending ??= this.create().catch((err: unknown) => {
      this.pending = undefined; // a failed creation is retried next time, not cached
      throw err;
    });
    return this.pending;
  }

  get loaded(): boolean {
    return this.pending !== undefined;
  }

  async release(): Promise<void> {
    const pending = this.pending;
    this.pending = undefined;
    if (pending) await (await pending).release();
  }
}
