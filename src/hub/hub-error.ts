/**
 * One error type for everything that can go wrong talking to the hub, with a `code` callers can
 * branch on and a message a person can act on (what was asked for, why it failed, what to do).
 */

export type HubErrorCode =
  | "unauthorized" // 401: private, gated or non-existent repo and no (valid) token
  | "gated" // 401/403 on a gated repo: conditions not accepted or no token
  | "forbidden" // 403 for another reason
  | "repo-not-found"
  | "revision-not-found"
  | "entry-not-found"
  | "offline-not-cached"
  | "integrity" // size or sha256 of a download did not match what the hub announced
  | "network" // connection refused, reset, timed out, cut mid-stream
  | "http"; // any other unexpected status

export class HubError extends Error {
  constructor(
    readonly code: HubErrorCode,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "HubError";
  }
}

/** What a request was about, so that an error can name it. */
export interface RequestSubject {
  repo: string;
  revision?: string;
  path?: string;
}

function describe(subject: RequestSubject): string {
  const at = subject.revision ? ` at revision "${subject.revision}"` : "";
  return subject.path ? `"${subject.path}" in ${subject.repo}${at}` : `${subject.repo}${at}`;
}

const TOKEN_HINT =
  "set HF_TOKEN to an access token (https://huggingface.co/settings/tokens) with read access to it";

/**
 * Turns a failed hub response into a HubError. Follows huggingface_hub's `hf_raise_for_status`:
 * the hub names the failure in the `X-Error-Code` header and explains it in `X-Error-Message`.
 */
export function hubErrorFromResponse(
  status: number,
  headers: Headers,
  subject: RequestSubject,
  sentToken: boolean,
): HubError {
  const errorCode = headers.get("x-error-code");
  const serverMessage = headers.get("x-error-message");
  const detail = serverMessage ? ` (hub says: ${serverMessage})` : "";
  const tokenState = sentToken ? "the token sent was refused or lacks access" : "no token was sent";

  if (errorCode === "GatedRepo") {
    return new HubError(
      "gated",
      `${subject.repo} is a gated model: accept its conditions on its page on the hub (logged in), then ${TOKEN_HINT} (${tokenState}; HTTP ${status})${detail}`,
      status,
    );
  }
  if (errorCode === "RevisionNotFound") {
    return new HubError(
      "revision-not-found",
      `revision "${subject.revision}" not found in ${subject.repo} (HTTP ${status})${detail}`,
      status,
    );
  }
  if (errorCode === "EntryNotFound") {
    return new HubError(
      "entry-not-found",
      `file ${describe(subject)} not found (HTTP ${status})${detail}`,
      status,
    );
  }
  if (status === 401) {
    // The hub answers 401 for private and for non-existent repos alike, so as not to leak which is which.
    return new HubError(
      "unauthorized",
      `${subject.repo}: not found, or private/gated and needs a token — ${tokenState}; check the repo id, and if it is private or gated, ${TOKEN_HINT} (HTTP 401)${detail}`,
      status,
    );
  }
  if (errorCode === "RepoNotFound" || (status === 404 && !subject.path)) {
    return new HubError(
      "repo-not-found",
      `model repository ${subject.repo} not found on the hub; check the repo id (HTTP ${status})${detail}`,
      status,
    );
  }
  if (status === 404) {
    return new HubError("entry-not-found", `file ${describe(subject)} not found (HTTP 404)${detail}`, status);
  }
  if (status === 403) {
    return new HubError(
      "forbidden",
      `access to ${describe(subject)} is forbidden — ${tokenState}; ${TOKEN_HINT} (HTTP 403)${detail}`,
      status,
    );
  }
  return new HubError("http", `request for ${describe(subject)} failed with HTTP ${status}${detail}`, status);
}
