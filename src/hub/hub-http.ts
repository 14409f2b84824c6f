/**
 * The few HTTP requests the hub protocol needs, on Node's built-in fetch: auth only towards the
 * hub's own origin, time limits, and every failure turned into a HubError that names its subject.
 */
import { abortableText, discardBody } from "./abortable-body.js";
import { HubError, hubErrorFromResponse, type RequestSubject } from "./hub-error.js";
import type { HubSettings } from "./hub-settings.js";

const USER_AGENT = `sdlite/0.1.0; node/${process.versions.node}`;

/** `https://hub/{repo}/resolve/{revision}/{path}` with huggingface_hub's quoting (revision fully, path per segment). */
export function resolveUrl(settings: HubSettings, repo: string, revision: string, path: string): string {
  const quotedPath = path.split("/").map(encodeURIComponent).join("/");
  return `${settings.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${quotedPath}`;
}

/** Headers for a request to `url`. The token goes to the hub only: a CDN on another origin never sees it. */
export function hubHeaders(settings: HubSettings, url: string, extra: Record<string, string> = {}): Headers {
  const headers = new Headers({ "User-Agent": USER_AGENT, "Accept-Encoding": "identity", ...extra });
  if (settings.token && new URL(url).origin === new URL(settings.endpoint).origin) {
    headers.set("Authorization", `Bearer ${settings.token}`);
  }
  return headers;
}

/** An AbortSignal that fires on the caller's signal or after `timeoutMs`, whichever comes first. */
export function withTimeout(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError");
}

/** Rethrows a fetch failure as a HubError("network"), or as the caller's own abort reason. */
export function networkError(err: unknown, url: string, signal?: AbortSignal): Error {
  if (signal?.aborted) return signal.reason instanceof Error ? signal.reason : new Error("download aborted");
  if (err instanceof HubError) return err;
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const what =
    isAbort(err) || isAbort(cause)
      ? "timed out"
      : `${(cause as NodeJS.ErrnoException)?.code ?? ""} ${(cause as Error)?.message ?? String(cause)}`.trim();
  return new HubError(
    "network",
    `could not reach ${new URL(url).origin} (${what}); check your connection or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only cached files`,
    undefined,
    { cause: err },
  );
}

export interface HubRequest {
  settings: HubSettings;
  subject: RequestSubject;
  signal?: AbortSignal;
}

/** GET a JSON document from the hub API. */
export async function fetchJson(url: string, req: HubRequest): Promise<unknown> {
  const signal = withTimeout(req.signal, req.settings.metadataTimeoutMs);
  let response: Response;
  try {
    response = await fetch(url, {
      headers: hubHeaders(req.settings, url, { Accept: "application/json" }),
      signal,
    });
  } catch (err) {
    throw networkError(err, url, req.signal);
  }
  if (!response.ok) {
    discardBody(response);
    throw hubErrorFromResponse(
      response.status,
      response.headers,
      req.subject,
      req.settings.token !== undefined,
    );
  }
  let text: string;
  try {
    // Not response.json(): an abort can leave undici's body pending forever (see abortable-body.ts).
    text = await abortableText(response, signal);
  } catch (err) {
    throw networkError(err, url, req.signal);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HubError(
      "http",
      `${url} answered with invalid JSON (${(err as Error).message})`,
      response.status,
    );
  }
}
