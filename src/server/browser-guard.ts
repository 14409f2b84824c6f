/**
 * Keeps web pages the user visits from driving the server through their browser. Two checks, on
 * every request, credentials or not:
 *
 * - DNS rebinding: a page on attacker.example whose name is made to resolve to 127.0.0.1 reaches
 *   the server as same-origin, but its requests carry `Host: attacker.example`. Only Host values
 *   this machine answers to pass: IP literals (an address cannot be rebound), `localhost` and
 *   `*.localhost`, the machine's own name (and `.local`), the name it was told to listen on, and
 *   the allowed hosts given (`--allowed-host`; a leading dot allows subdomains; `*` any).
 * - Cross-site requests: a page may POST to any address (a "simple" request needs no CORS
 *   preflight), so a state-changing request whose `Origin` is neither this server's own nor a
 *   configured CORS origin is refused. Programs send no Origin and pass; the web UI is same-origin.
 */
import { isIP } from "node:net";
import { hostname } from "node:os";

export interface BrowserGuardConfig {
  /** Host names besides the built-in ones (see above). */
  readonly allowedHosts: readonly string[];
  /** Origins allowed by CORS: their requests are not cross-site refusals. */
  readonly corsOrigins: readonly string[];
}

export interface BrowserGuard {
  /** Why the request is refused (403), or undefined when it may go on. */
  refusal(
    method: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
  ): string | undefined;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

function header(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  name: string,
): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** "Name:port" or "[v6]:port" → lower-case name without brackets or trailing dot, and the port. */
export function parseHostHeader(host: string): { name: string; port?: string } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(host.trim().toLowerCase());
  if (!m) return { name: host.trim().toLowerCase() };
  const name = m[1].replace(/^\[|\]$/g, "").replace(/\.$/, "");
  return m[2] ? { name, port: m[2] } : { name };
}

/** The host names a server answers to besides the built-in ones: its listen name and the given ones. */
function namedHosts(config: BrowserGuardConfig, listenHost: string | undefined): string[] {
  const machine = hostname().toLowerCase();
  const names = [machine, `${machine}.local`, ...config.allowedHosts.map((h) => h.toLowerCase())];
  if (listenHost && isIP(listenHost.replace(/^\[|\]$/g, "")) === 0) names.push(listenHost.toLowerCase());
  return names;
}

function hostAllowed(name: string, names: readonly string[]): boolean {
  if (isIP(name) !== 0 || name === "localhost" || name.endsWith(".localhost")) return true;
  return names.some(
    (n) => n === "*" || n === name || (n.startsWith(".") && (name.endsWith(n) || name === n.slice(1))),
  );
}

const DEFAULT_PORTS: Record<string, string> = { "http:": "80", "https:": "443" };

/** Whether `origin` is the server the request was sent to (scheme aside: a TLS proxy may sit between). */
function sameOrigin(origin: URL, host: { name: string; port?: string }): boolean {
  const originPort = origin.port || DEFAULT_PORTS[origin.protocol];
  const hostPort = host.port || DEFAULT_PORTS[origin.protocol];
  return origin.hostname.replace(/^\[|\]$/g, "") === host.name && originPort === hostPort;
}

function normalOrigin(origin: string): string {
  try {
    return new URL(origin).origin;
  } catch {
    return origin;
  }
}

export function createBrowserGuard(config: BrowserGuardConfig, listenHost?: string): BrowserGuard {
  const names = namedHosts(config, listenHost);
  const cors = new Set(config.corsOrigins.map(normalOrigin));
  return {
    refusal(method, headers) {
      const hostHeader = header(headers, "host");
      // HTTP/1.0 programs may send none; every browser does
      const host = hostHeader === undefined ? undefined : parseHostHeader(hostHeader);
      if (host && !hostAllowed(host.name, names)) {
        return `Host "${hostHeader}" is not a name this server answers to (a guard against DNS rebinding); start it with --allowed-host ${host.name} to allow it`;
      }
      if (SAFE_METHODS.has(method.toUpperCase())) return undefined;
      const origin = header(headers, "origin");
      if (origin === undefined) {
        // no Origin: a program, unless the browser says the request came from another site
        return header(headers, "sec-fetch-site") === "cross-site"
          ? "cross-site requests are refused (no CORS origin is configured for them)"
          : undefined;
      }
      let url: URL | undefined;
      try {
        url = origin === "null" ? undefined : new URL(origin);
      } catch {
        url = undefined;
      }
      if (url && (cors.has(url.origin) || (host && sameOrigin(url, host)))) return undefined;
      return `cross-origin ${method.toUpperCase()} from ${origin} refused: only this server's own pages and the origins given with --cors-origin may send it`;
    },
  };
}
