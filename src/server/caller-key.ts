/**
 * Who sent a request, as one short key: the API key (hashed, never kept as sent), else the basic
 * user name, else the client's address. Rate limits count per key, and /progress and /interrupt
 * act on the key's own job when many run at once (workers on Redis).
 */
import { createHash } from "node:crypto";
import type { FastifyRequest } from "fastify";

function first(v: string | string[] | undefined): string {
  return (Array.isArray(v) ? v[0] : v) ?? "";
}

export function callerKey(request: Pick<FastifyRequest, "headers" | "ip">): string {
  const authorization = first(request.headers.authorization);
  const bearer = /^Bearer\s+(.+)$/i.exec(authorization)?.[1]?.trim();
  const key = bearer ?? (first(request.headers["x-api-key"]) || undefined);
  if (key) return `key:${createHash("sha256").update(key).digest("hex").slice(0, 16)}`;
  const basic = /^Basic\s+(.+)$/i.exec(authorization)?.[1];
  if (basic) {
    const user = Buffer.from(basic, "base64").toString("utf-8").split(":")[0];
    if (user) return `user:${user}`;
  }
  return `ip:${request.ip}`;
}
