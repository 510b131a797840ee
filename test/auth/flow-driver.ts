/**
 * Drives the authorization pages the way a browser without script does: follows what the server answers, keeps
 * the cookies it sets, and posts the page's form with its hidden fields plus what the "person" fills in. Also a
 * small SMART app on loopback built on `fhirclient`'s Node adapter (authorize → redirect → ready), and helpers
 * that set up clients, users and patients through the server's real endpoints.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClientStore, type OAuthClient } from '../../server/auth/clients';
import type { TestServer } from '../harness';

export interface Page {
  status: number;
  url: string;
  location?: string;
  html: string;
  headers: Headers;
}

const unescapeHtml = (s: string): string => s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&');

/** The hidden fields of the page's form. */
export function hiddenFields(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) out[m[1]] = unescapeHtml(m[2]);
  return out;
}

/** The radio values `name="patient"` the picker lists. */
export function patientChoices(html: string): string[] {
  return [...html.matchAll(/<input type="radio" id="[^"]+" name="patient" value="([^"]+)"/g)].map((m) => unescapeHtml(m[1]));
}

export class Browser {
  readonly cookies = new Map<string, string>();

  private remember(headers: Headers): void {
    for (const c of headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || !value) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  private cookieHeader(): Record<string, string> {
    return this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {};
  }

  async get(url: string): Promise<Page> {
    const res = await fetch(url, { redirect: 'manual', headers: this.cookieHeader() });
    this.remember(res.headers);
    return { status: res.status, url, location: res.headers.get('location') ?? undefined, html: await res.text(), headers: res.headers };
  }

  async post(url: string, fields: Record<string, string>): Promise<Page> {
    const res = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...this.cookieHeader() },
      body: new URLSearchParams(fields).toString(),
    });
    this.remember(res.headers);
    return { status: res.status, url, location: res.headers.get('location') ?? undefined, html: await res.text(), headers: res.headers };
  }

  /** Posts the page's form: its hidden fields and `fields`. */
  submit(page: Page, fields: Record<string, string>): Promise<Page> {
    const action = /<form method="post" action="([^"]+)">/.exec(page.html)?.[1];
    if (!action) throw new Error(`no form on the page (${page.status}): ${page.html.slice(0, 300)}`);
    return this.post(new URL(unescapeHtml(action), page.url).toString(), { ...hiddenFields(page.html), ...fields });
  }
}

/** Which page this is, by its heading. */
export function pageKind(page: Page): 'sign-in' | 'picker' | 'consent' | 'error' | 'redirect' {
  if (page.status >= 300 && page.status < 400) return 'redirect';
  if (page.html.includes('<h1>Sign in</h1>')) return 'sign-in';
  if (page.html.includes('<h1>Choose a patient</h1>')) return 'picker';
  if (page.html.includes('<h1>Allow access?</h1>')) return 'consent';
  return 'error';
}

/**
 * A person going through the pages from an authorization URL: signs in, picks `patient` when asked, answers the
 * consent with `decision`; returns the redirect to the app (or the page where it stopped).
 */
export async function walkPages(
  browser: Browser,
  authorizeUrl: string,
  person: { username: string; password: string; patient?: string; decision?: 'allow' | 'deny' },
  seen: string[] = [],
): Promise<Page> {
  let page = await browser.get(authorizeUrl);
  for (let i = 0; i < 6; i++) {
    const kind = pageKind(page);
    seen.push(kind);
    if (kind === 'redirect' || kind === 'error') return page;
    if (kind === 'sign-in') page = await browser.submit(page, { username: person.username, password: person.password });
    else if (kind === 'picker') {
      if (!person.patient) return page;
      page = await browser.submit(page, { patient: person.patient });
    } else page = await browser.submit(page, { decision: person.decision ?? 'allow' });
  }
  return page;
}

// ---- PKCE, clients, users -----------------------------------------------------------------------------------------

export function pkce(): { verifier: string; challenge: string } {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
}

export async function registerClient(
  server: TestServer,
  c: Partial<Omit<OAuthClient, 'clientId'>> & { redirectUris: string[] },
): Promise<{ clientId: string; secret?: string }> {
  const store = new ClientStore(server.pool, `${server.origin}/auth/token`);
  const { client, secret } = await store.create({
    clientName: c.clientName ?? 'Test app',
    authMethod: c.authMethod ?? 'none',
    grantTypes: c.grantTypes ?? ['authorization_code'],
    admin: false,
    ...c,
  });
  return { clientId: client.clientId, secret };
}

export async function addUser(server: TestServer, username: string, password: string, fhirUser: string): Promise<void> {
  const res = await fetch(`${server.origin}/auth/users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await server.token()}`, 'content-type': 'application/json' },
    body: JSON.stringify({ username, password, fhirUser }),
  });
  if (res.status !== 201) throw new Error(`user ${username} not created: ${res.status} ${await res.text()}`);
}

export async function addPatient(server: TestServer, family: string, given: string, nhid?: string): Promise<string> {
  const res = await server.request('POST', '/Patient', {
    body: {
      resourceType: 'Patient',
      name: [{ family, given: [given] }],
      birthDate: '1980-01-01',
      ...(nhid ? { identifier: [{ system: 'https://healthid.abdm.gov.in', value: nhid }] } : {}),
    },
  });
  if (res.status !== 201) throw new Error(`patient not created: ${res.status} ${res.text}`);
  return res.body.id;
}

export async function createLaunch(server: TestServer, body: Record<string, string>, token?: string): Promise<Response> {
  return fetch(`${server.origin}/auth/launch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token ?? (await server.token())}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** An authorization URL with PKCE for a client (the parts may be overridden or removed with undefined). */
export function authorizeUrl(server: TestServer, params: Record<string, string | undefined>): string {
  const url = new URL(`${server.origin}/auth/authorize`);
  for (const [k, v] of Object.entries({ response_type: 'code', aud: server.base, state: crypto.randomUUID(), ...params })) {
    if (v !== undefined) url.searchParams.set(k, v);
  }
  return url.toString();
}

/** A PKCE authorization URL for a registered client, with the verifier that redeems its code and its state. */
export function clientAuthorizeUrl(
  server: TestServer,
  client: { clientId: string; redirectUri: string },
  scope: string,
  params: Record<string, string> = {},
): { href: string; verifier: string; state: string } {
  const { verifier, challenge } = pkce();
  const state = crypto.randomUUID();
  const href = authorizeUrl(server, {
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...params,
  });
  return { href, verifier, state };
}

export async function tokenRequest(
  server: TestServer,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.origin}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: await res.json() };
}

// ---- a SMART app built on fhirclient -------------------------------------------------------------------------------

// fhirclient's Node entry: smart(request, response, storage) → { authorize, ready, … }
const smart = require('fhirclient/lib/entry/node') as (req: http.IncomingMessage, res: http.ServerResponse, storage?: unknown) => any;

export interface SmartApp {
  origin: string;
  redirectUri: string;
  /** The app's launch URL (EHR launch: with iss and launch). */
  launchUrl(params?: Record<string, string>): string;
  /** The fhirclient Client of the latest completed launch. */
  nextClient(): Promise<any>;
  close(): Promise<void>;
}

/** A SMART app on loopback: `/launch` calls fhirclient's authorize, `/callback` its ready. */
export async function startSmartApp(opts: {
  clientId?: string;
  clientSecret?: string;
  scope: string;
  iss?: string;
}): Promise<SmartApp & { setClientId(id: string, secret?: string): void }> {
  const values = new Map<string, unknown>();
  const storage = {
    get: async (k: string) => values.get(k),
    set: async (k: string, v: unknown) => void values.set(k, v),
    unset: async (k: string) => values.delete(k),
  };
  let clientId = opts.clientId;
  let clientSecret = opts.clientSecret;
  let waiting: { resolve: (c: any) => void; reject: (e: unknown) => void } | undefined;
  let ready: Promise<any> = new Promise((resolve, reject) => (waiting = { resolve, reject }));
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/launch') {
      smart(req, res, storage)
        .authorize({
          clientId,
          clientSecret,
          scope: opts.scope,
          redirectUri: '/callback',
          pkceMode: 'required',
          ...(opts.iss ? { iss: opts.iss } : {}),
        })
        .catch((e: Error) => {
          res.writeHead(500);
          res.end(String(e));
        });
    } else if (path === '/callback') {
      smart(req, res, storage)
        .ready()
        .then(
          (client: any) => {
            waiting?.resolve(client);
            res.end('ready');
          },
          (e: Error) => {
            waiting?.reject(e);
            res.writeHead(500);
            res.end(String(e));
          },
        );
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    redirectUri: `${origin}/callback`,
    setClientId(id, secret) {
      clientId = id;
      clientSecret = secret;
    },
    launchUrl(params = {}) {
      const url = new URL(`${origin}/launch`);
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      return url.toString();
    },
    async nextClient() {
      const client = await ready;
      ready = new Promise((resolve, reject) => (waiting = { resolve, reject }));
      return client;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
