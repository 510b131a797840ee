/**
 * HTTP helpers of the authorization server's pages (authorize.ts, account.ts): each page is sent with its own CSP
 * (no script at all; `form-action` naming where its forms may go) and never cached; cookies are HttpOnly,
 * SameSite=Lax, under the authorization server's path, Secure on https.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorPage } from './pages/error';

function pagePolicy(formTargets: string[]): string {
  return [
    "default-src 'none'",
    "style-src 'self'",
    "img-src 'self' data:",
    `form-action 'self' ${[...new Set(formTargets)].join(' ')}`.trim(),
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

export function sendPage(reply: FastifyReply, status: number, html: string, formTargets: string[] = []): FastifyReply {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('Content-Security-Policy', pagePolicy(formTargets))
    .header('Cache-Control', 'no-store')
    .header('Pragma', 'no-cache')
    .send(html);
}

export const sendError = (reply: FastifyReply, status: number, title: string, message: string): FastifyReply =>
  sendPage(reply, status, errorPage(title, message));

/** The request's parameters: the query string of a GET, the form of a POST (a parameter may repeat). */
export function paramsOf(req: FastifyRequest): URLSearchParams {
  if (req.method !== 'POST') return new URL(req.url, 'http://localhost').searchParams;
  const body = req.body;
  if (typeof body === 'string') return new URLSearchParams(body);
  const out = new URLSearchParams();
  if (body && typeof body === 'object') {
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      for (const one of Array.isArray(v) ? v : [v]) if (typeof one === 'string') out.append(k, one);
    }
  }
  return out;
}

/** The request's cookies by name. */
export function cookies(req: FastifyRequest): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

/** Where the pages' cookies live: the authorization server's path, and whether they are Secure (https). */
export interface CookieScope {
  cookiePath: string;
  secureCookies: boolean;
}

/** Sets cookie `name` for `maxAge` seconds, or clears it (0). */
export function setCookie(reply: FastifyReply, scope: CookieScope, name: string, value: string, maxAge: number): void {
  const attrs = [`Path=${scope.cookiePath}`, `Max-Age=${maxAge}`, 'HttpOnly', 'SameSite=Lax', ...(scope.secureCookies ? ['Secure'] : [])];
  reply.header('Set-Cookie', `${name}=${maxAge ? value : ''}; ${attrs.join('; ')}`);
}
