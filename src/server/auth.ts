/**
 * Request authentication: an API key (`Authorization: Bearer KEY` or `X-API-Key: KEY`) or HTTP
 * basic credentials (A1111's --api-auth "user:pass[,user2:pass2]"). Secrets are compared through
 * their SHA-256 in constant time, so timing reveals neither content nor length.
 *
 * What needs none: CORS preflights, the health check, and, with an API key but no basic users,
 * the web UI's own files (they hold no data; the page asks for the key and sends it with every API
 * call, where a browser has no way to send a key with a page load).
 */
import { createHash, timingSafeEqual } from "node:crypto";

export interface AuthConfig {
  apiKey?: string;
  /** "user:pass", several separated by commas. */
  basic?: string;
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

function sameSecret(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

export interface Authenticator {
  /** Whether any credentials are configured. */
  readonly required: boolean;
  /** The auth scheme to name in WWW-Authenticate. */
  readonly challenge: string;
  check(headers: Readonly<Record<string, string | string[] | undefined>>): boolean;
  /** Whether a request goes through without credentials (see above). */
  exempt(method: string, url: string): boolean;
}

export const HEALTH_PATH = "/sdlite/v1/health";

/** The web UI's files: "/" and top-level static files (index.html, main.js, styles.css, …). */
const WEB_UI_FILE = /^\/(?:[\w-]+(?:\.[\w-]+)*\.(?:html|js|css|svg|png|ico|woff2?))?$/;

/** Parses "user:pass,user2:pass2"; a password may itself contain ':'. */
export function parseBasicCredentials(spec: string): { user: string; password: string }[] {
  return spec
    .split(",")
    .map((pair) => pair.trim())
    .filter((pair) => pair !== "")
    .map((pair) => {
      const colon = pair.indexOf(":");
      if (colon <= 0) throw new Error(`--api-auth expects user:password, got "${pair}"`);
      return { user: pair.slice(0, colon), password: pair.slice(colon + 1) };
    });
}

function header(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string {
  const v = headers[name];
  return Array.isArray(v) ? (v[0] ?? "") : (v ?? "");
}

export function createAuthenticator(config: AuthConfig): Authenticator {
  const key = config.apiKey ? digest(config.apiKey) : undefined;
  const basic = config.basic
    ? parseBasicCredentials(config.basic).map((c) => digest(`${c.user}:${c.password}`))
    : [];
  return {
    required: key !== undefined || basic.length > 0,
    exempt(method, url) {
      const path = url.split("?")[0];
      if (method === "OPTIONS" || path === HEALTH_PATH) return true;
      return basic.length === 0 && (method === "GET" || method === "HEAD") && WEB_UI_FILE.test(path);
    },
    challenge: basic.length > 0 ? 'Basic realm="sdlite", charset="UTF-8"' : 'Bearer realm="sdlite"',
    check(headers) {
      const authorization = header(headers, "authorization");
      if (key) {
        const bearer = /^Bearer\s+(.+)$/i.exec(authorization);
        if (bearer && sameSecret(bearer[1].trim(), key)) return true;
        const apiKey = header(headers, "x-api-key");
        if (apiKey && sameSecret(apiKey, key)) return true;
      }
      const basicHeader = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(authorization);
      if (basicHeader && basic.length > 0) {
        const decoded = Buffer.from(basicHeader[1], "base64").toString("utf8");
        // every entry is compared, so the time does not depend on which one matched
        let ok = false;
        for (const expected of basic) ok = sameSecret(decoded, expected) || ok;
        return ok;
      }
      return false;
    },
  };
}
