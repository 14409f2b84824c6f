/**
 * Reading a fetch response body so that an abort always settles the read.
 *
 * Node's built-in fetch (undici 6.x, Node 20) can leave a body stream pending forever: when the
 * abort lands after the last byte has arrived but before the stream was closed (its `onComplete`
 * already dropped the abort listener, and the pull that would close the stream sees the abort and
 * stops), neither the close nor the error ever comes. Nothing then holds the process open, so an
 * `await` on that read simply vanishes and the program exits with status 0 having done nothing.
 * These helpers race every read against the signal and cancel the stream themselves.
 */

/** A promise that rejects with the signal's reason once it aborts (never resolves), and its cleanup. */
function abortPromise(signal: AbortSignal): { aborted: Promise<never>; dispose: () => void } {
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
  });
  aborted.catch(() => undefined); // observed only through the race below
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  return { aborted, dispose: () => signal.removeEventListener("abort", onAbort) };
}

/**
 * The chunks of `body`; throws the signal's reason as soon as it aborts, whatever the stream does.
 * However the iteration ends (done, error, abort, or the consumer leaving the loop), the stream is
 * cancelled, which also lets undici drop the connection.
 */
export async function* abortableChunks(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array, void, undefined> {
  const reader = body.getReader();
  const { aborted, dispose } = abortPromise(signal);
  try {
    for (;;) {
      signal.throwIfAborted(); // queued bytes would otherwise win the race below
      const { done, value } = await Promise.race([reader.read(), aborted]);
      if (done) return;
      yield value;
    }
  } finally {
    dispose();
    // Not awaited: on a stream undici left pending, the cancel may never settle either.
    reader.cancel(signal.aborted ? signal.reason : undefined).catch(() => undefined);
  }
}

/** The whole body as text, with the same guarantee. */
export async function abortableText(response: Response, signal: AbortSignal): Promise<string> {
  if (!response.body) return "";
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of abortableChunks(response.body, signal))
    text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

/** Drops a body that will not be read, without waiting on it (see above for why not). */
export function discardBody(response: Response): void {
  response.body?.cancel().catch(() => undefined);
}
