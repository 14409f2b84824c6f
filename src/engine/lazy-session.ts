/**
 * A session created on first use and released on demand: low-memory mode loads each network only
 * while its stage runs (text encoder, then UNet, then VAE) and frees it after. A session whose
 * creation costs the calling thread nothing (a worker-thread runtime over a stored graph) can be
 * started early, so that it loads while another network works (`startEarly`, `whenCreating`).
 */
import type { Session } from "../runtime/runtime.js";

export interface LazySessionOptions {
  /**
   * Whether creating the session now would leave this thread free (it runs elsewhere and has
   * nothing to build here); only then does `startEarly` start it. Absent: never.
   */
  readonly createsOffThread?: () => boolean;
}

export class LazySession {
  private pending: Promise<Session> | undefined;
  private readonly creating: (() => void)[] = [];

  constructor(
    private readonly create: () => Promise<Session>,
    private readonly options: LazySessionOptions = {},
  ) {}

  get(): Promise<Session> {
    if (this.pending) return this.pending;
    // before this creation: an in-thread engine's creation is synchronous, so after it there would
    // be nothing left to overlap
    for (const listener of this.creating) listener();
    this.pending = this.create().catch((err: unknown) => {
      this.pending = undefined; // a failed creation is retried next time, not cached
      throw err;
    });
    return this.pending;
  }

  get loaded(): boolean {
    return this.pending !== undefined;
  }

  /**
   * Starts creating the session now when that costs this thread nothing (see
   * LazySessionOptions.createsOffThread); returns whether it did (or had). A failure surfaces at
   * the next `get()`, which tries again.
   */
  startEarly(): boolean {
    if (this.pending) return true;
    if (!this.options.createsOffThread?.()) return false;
    // the error is the caller of get()'s to see: not an unhandled rejection here
    this.get().catch(() => {});
    return true;
  }

  /** Calls `listener` each time this session's creation is about to begin (again after a release). */
  whenCreating(listener: () => void): void {
    this.creating.push(listener);
  }

  async release(): Promise<void> {
    const pending = this.pending;
    this.pending = undefined;
    if (pending) await (await pending).release();
  }
}
