/** The repository Caller of an HTTP request: the one place the REST layer turns a request into who is acting. */
import type { FastifyRequest } from 'fastify';
import { auditTrailOf } from '../audit/http';
import { accessOf, type AccessOptions } from '../auth/access';
import type { AuthContext } from '../auth/context';
import type { Config } from '../config';
import type { Caller, CallerAudit } from '../repository/caller';

const optionsCache = new WeakMap<object, AccessOptions>();

/** The zone and base a granular scope's query is read with: the server's (AROGYA_TIMEZONE, AROGYA_BASE_URL). */
function optionsOf(config: Config | undefined): AccessOptions | undefined {
  if (!config) return undefined;
  let opts = optionsCache.get(config);
  if (!opts) optionsCache.set(config, (opts = { timeZone: config.timeZone, baseUrl: config.baseUrl }));
  return opts;
}

/**
 * Who acts and what they may see: with a verified token (req.auth), the acting user (fhirUser) or client and its
 * scopes' access restriction (auth/access.ts), which the repository compiles into every statement; without one
 * (AROGYA_AUTH=off) an anonymous, unrestricted caller.
 */
export function callerOf(req: FastifyRequest): Caller {
  const caller = callerOfAuth(req.auth, req.server.authServices?.config, req.id, auditTrailOf(req));
  if (req.scope) caller.scope = req.scope;
  return caller;
}

/** The Caller of a verified token (or of none: anonymous) outside a request's handler (a websocket's messages). */
export function callerOfAuth(auth: AuthContext | null, config: Config | undefined, requestId?: string, audit?: CallerAudit): Caller {
  if (!auth) return { actor: { kind: 'anonymous' }, requestId, audit };
  const isUser = auth.sub !== auth.clientId;
  return {
    actor: { kind: isUser ? 'user' : 'client', reference: auth.fhirUser, clientId: auth.clientId },
    access: accessOf(auth, optionsOf(config)),
    requestId,
    audit,
  };
}
