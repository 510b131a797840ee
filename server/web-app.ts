/**
 * The clinician web app (app-web/, built by Vite into dist/app): its static files served at /app with their own
 * Content-Security-Policy, and its registration as a public SMART client (`arogya-web`, PKCE) at every start-up,
 * through the client registry's own checks (auth/register.ts parseRegistration). The app reads only through the
 * FHIR API with the token it gets like any other SMART app.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Config } from './config';
import type { ClientStore } from './auth/clients';
import { parseRegistration } from './auth/register';

export const WEB_APP_CLIENT_ID = 'arogya-web';
export const WEB_APP_PATH = '/app';

/** Where the app is served, beside the FHIR base (`https://h/fhir` → `https://h/app`), without a trailing slash. */
export function webAppBaseOf(baseUrl: string): string {
  const url = new URL(baseUrl);
  url.pathname = `${url.pathname.replace(/\/[^/]*$/, '')}${WEB_APP_PATH}`;
  url.search = '';
  return url.toString().replace(/\/+$/, '');
}

/** The built app: <repo>/dist/app, whether this file runs from server/ (ts) or dist/server/ (js). */
export function webAppDir(): string {
  let root = path.resolve(__dirname, '..');
  if (path.basename(root) === 'dist') root = path.dirname(root);
  return path.join(root, 'dist', 'app');
}

/** Registers (or brings up to date) the app's public client: redirect `{app}/`, launch `{app}/launch.html`. */
export async function registerWebAppClient(clients: ClientStore, config: Config): Promise<void> {
  const app = webAppBaseOf(config.baseUrl);
  const r = parseRegistration({
    client_name: 'Arogya clinician app',
    redirect_uris: [`${app}/`],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'none',
    launch_uri: `${app}/launch.html`,
  });
  await clients.upsertOwn({ ...r, clientId: WEB_APP_CLIENT_ID, admin: false });
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
};

/** The app pages' policy: everything from this origin; the API and its websocket only; no inline script or style. */
export function webAppCsp(config: Config): string {
  const ws = new URL(config.baseUrl);
  ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self' ${ws.origin}`,
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
  ].join('; ');
}

export function registerWebApp(app: FastifyInstance, config: Config, dir = webAppDir()): void {
  const csp = webAppCsp(config);
  const root = path.resolve(dir);

  async function send(reply: FastifyReply, rel: string) {
    const file = path.resolve(root, rel);
    if (file !== root && !file.startsWith(root + path.sep)) return reply.code(404).type('text/plain').send('not found');
    let body: Buffer;
    try {
      body = await fs.promises.readFile(file);
    } catch {
      if (!fs.existsSync(path.join(root, 'index.html'))) {
        return reply
          .code(503)
          .type('text/plain; charset=utf-8')
          .header('Cache-Control', 'no-store')
          .send('The clinician app is not built: run `npm run build` (it builds the server and dist/app).');
      }
      return reply.code(404).type('text/plain').send('not found');
    }
    const ext = path.extname(file);
    const html = ext === '.html';
    reply
      .type(TYPES[ext] ?? 'application/octet-stream')
      .header('X-Content-Type-Options', 'nosniff')
      .header('Referrer-Policy', 'no-referrer')
      // Vite names every asset by its content hash: cache them for good; pages are always revalidated
      .header('Cache-Control', rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    if (html) reply.header('Content-Security-Policy', csp).header('X-Frame-Options', 'DENY');
    return reply.send(body);
  }

  // (ignoreTrailingSlash: this route is /app and /app/ alike; the redirect URI is /app/)
  app.get(`${WEB_APP_PATH}/`, (req, reply) => {
    // /app without its slash: relative links (launch.html) and the redirect URI need /app/
    const q = req.url.indexOf('?');
    if ((q < 0 ? req.url : req.url.slice(0, q)) === WEB_APP_PATH) return reply.redirect(`${WEB_APP_PATH}/${q < 0 ? '' : req.url.slice(q)}`, 302);
    return send(reply, 'index.html');
  });
  app.get(`${WEB_APP_PATH}/*`, (req, reply) => {
    const rel = (req.params as { '*': string })['*'];
    if (rel.includes('\0')) return reply.code(404).type('text/plain').send('not found');
    return send(reply, rel === '' ? 'index.html' : decodeURIComponent(rel));
  });
}
