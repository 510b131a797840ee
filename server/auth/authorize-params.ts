/**
 * An authorization request (RFC 6749 §4.1.1, SMART App Launch 2.2 "obtain authorization code") checked in the
 * order that decides where an error may go: until the client and its redirect URI are known to match a
 * registration, an error is a page here (nothing is ever sent to an unchecked URI); after that, an error goes back
 * to the app at its redirect URI with `error` and `state`.
 */
import type { AuthorizeParams, Prompt } from './authorize-state';
import type { OAuthClient } from './clients';
import { clientMayAsk } from './scope-policy';
import { parseResourceScope } from './scopes';

/** What an authorization request turned out to be. */
export type CheckedRequest =
  | { kind: 'ok'; params: AuthorizeParams; client: OAuthClient; launch?: string }
  /** An error shown on a page (the redirect URI is not usable). */
  | { kind: 'page'; status: number; title: string; message: string }
  /** An error sent back to the app. */
  | { kind: 'redirect'; location: string };

export interface CheckContext {
  /** The FHIR base URL: `aud` must equal it (a trailing slash ignored). */
  baseUrl: string;
  findClient(clientId: string): Promise<OAuthClient | undefined>;
}

const CODE_CHALLENGE = /^[A-Za-z0-9\-._~]{43,128}$/;

/** The URL of an OAuth error answer at the client's redirect URI (RFC 6749 §4.1.2.1). */
export function errorRedirect(redirectUri: string, error: string, description: string, state: string | undefined): string {
  const url = new URL(redirectUri);
  url.searchParams.set('error', error);
  url.searchParams.set('error_description', description);
  if (state !== undefined) url.searchParams.set('state', state);
  return url.toString();
}

/**
 * The scope to grant: the requested scopes this client may ask for, in the order asked. `system/` scopes are
 * never granted to a person's authorization (they are for client_credentials).
 */
export function grantableScope(client: OAuthClient, requested: string): string {
  const scopes = [...new Set(requested.split(/\s+/).filter(Boolean))];
  return scopes.filter((s) => parseResourceScope(s)?.context !== 'system' && clientMayAsk(client.scope, s)).join(' ');
}

function single(q: URLSearchParams, name: string): string | undefined | null {
  const all = q.getAll(name);
  if (all.length > 1) return null; // a parameter given twice is an error (RFC 6749 §3.1)
  return all[0] === '' ? undefined : all[0];
}

const PROMPTS: readonly Prompt[] = ['none', 'login', 'consent', 'select_account'];

/** The `prompt` values (OpenID Connect Core §3.1.2.1), or why they are refused. */
function promptOf(value: string | undefined): Prompt[] | string {
  const values = [...new Set((value ?? '').split(' ').filter(Boolean))];
  const unknown = values.find((v) => !PROMPTS.includes(v as Prompt));
  if (unknown !== undefined) return `prompt '${unknown.slice(0, 40)}' is not one of ${PROMPTS.join(', ')}`;
  if (values.includes('none') && values.length > 1) return 'prompt none cannot be combined with other values';
  return values as Prompt[];
}

const sameBase = (a: string, b: string): boolean => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

export async function checkAuthorizeRequest(q: URLSearchParams, ctx: CheckContext): Promise<CheckedRequest> {
  const page = (message: string, status = 400): CheckedRequest => ({ kind: 'page', status, title: 'This sign-in request cannot go on', message });
  const clientId = single(q, 'client_id');
  if (clientId === null) return page('The request names client_id more than once.');
  if (!clientId) return page('The request names no app (client_id is missing).');
  const client = await ctx.findClient(clientId);
  if (!client) return page('The app that sent you here is not registered with this server.');
  const redirectUri = single(q, 'redirect_uri');
  if (redirectUri === null) return page('The request names redirect_uri more than once.');
  if (!redirectUri) return page('The request has no redirect_uri.');
  if (!client.redirectUris.includes(redirectUri)) return page('The redirect_uri does not match one registered for this app.');

  // From here on the app is known and answered at its redirect URI.
  const state = single(q, 'state');
  const fail = (error: string, description: string): CheckedRequest => ({
    kind: 'redirect',
    location: errorRedirect(redirectUri, error, description, state ?? undefined),
  });
  if (state === null) return fail('invalid_request', 'state is given more than once');
  for (const name of ['response_type', 'scope', 'aud', 'code_challenge', 'code_challenge_method', 'launch', 'nonce', 'prompt', 'max_age']) {
    if (single(q, name) === null) return fail('invalid_request', `${name} is given more than once`);
  }
  const responseType = single(q, 'response_type');
  if (responseType !== 'code') return fail('unsupported_response_type', 'response_type must be code');
  if (client.grantTypes.length && !client.grantTypes.includes('authorization_code'))
    return fail('unauthorized_client', 'this app is not registered for the authorization_code grant');
  if (!state) return fail('invalid_request', 'state is required');
  const aud = single(q, 'aud');
  if (!aud || !sameBase(aud, ctx.baseUrl)) return fail('invalid_request', `aud must be this server's FHIR base URL (${ctx.baseUrl})`);
  const challenge = single(q, 'code_challenge');
  if (!challenge) return fail('invalid_request', 'code_challenge is required (PKCE, S256)');
  if (single(q, 'code_challenge_method') !== 'S256') return fail('invalid_request', 'code_challenge_method must be S256');
  if (!CODE_CHALLENGE.test(challenge)) return fail('invalid_request', 'code_challenge is not a base64url S256 challenge');
  const requested = single(q, 'scope');
  if (!requested) return fail('invalid_scope', 'scope is required');
  const scope = grantableScope(client, requested);
  if (!scope) return fail('invalid_scope', 'none of the requested scopes may be granted to this app');
  const nonce = single(q, 'nonce');
  const prompt = promptOf(single(q, 'prompt') ?? undefined);
  if (typeof prompt === 'string') return fail('invalid_request', prompt);
  const maxAgeText = single(q, 'max_age') ?? undefined;
  const maxAge = maxAgeText === undefined ? undefined : /^\d{1,9}$/.test(maxAgeText) ? Number(maxAgeText) : Number.NaN;
  if (Number.isNaN(maxAge)) return fail('invalid_request', 'max_age must be a whole number of seconds');
  return {
    kind: 'ok',
    client,
    launch: single(q, 'launch') ?? undefined,
    params: {
      clientId: client.clientId,
      clientName: client.clientName ?? client.clientId,
      redirectUri,
      scope,
      state,
      codeChallenge: challenge,
      ...(nonce ? { nonce } : {}),
      ...(prompt.length ? { prompt } : {}),
      ...(maxAge !== undefined ? { maxAge } : {}),
    },
  };
}
