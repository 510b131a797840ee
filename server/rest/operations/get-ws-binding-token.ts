/**
 * $get-ws-binding-token — the R5 Subscriptions backport's
 * http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-get-ws-binding-token:
 * - `GET|POST [base]/Subscription/[id]/$get-ws-binding-token`: a token for that Subscription;
 * - `GET|POST [base]/Subscription/$get-ws-binding-token?id=a&id=b` (or a Parameters body with `id`s): one token
 *   for several; without any `id` → 400 (the operation allows refusing rather than covering every Subscription).
 * Each Subscription must be readable by the caller (404 otherwise) and have channel.type `websocket` (400).
 * Answers a Parameters: `token`, `expiration` (AROGYA_WS_TOKEN_TTL seconds from now, never after the caller's access
 * token expires), `subscription` (each id) and `websocket-url`. The client sends `bind-with-token <token>` on the
 * websocket (events/subscriptions/websocket.ts); the token binds only the Subscriptions it names.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isJsonObject } from '../../fhir/json';
import { OperationOutcomeError, badRequest, issue } from '../../fhir/outcome';
import { resourceBody } from '../body';
import { callerOf } from '../caller';
import type { RestContext } from '../context';
import { sendJson } from '../http';

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const MAX_IDS = 100;

/** The `id` parameters of a type-level call: query `id`s and a POSTed Parameters' `id`s (valueId or valueString). */
function idsOf(req: FastifyRequest): string[] {
  const query = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
  for (const name of query.keys())
    if (!['id', '_format', '_pretty'].includes(name)) throw badRequest(`Unknown $get-ws-binding-token parameter '${name}'`);
  const ids = query.getAll('id').flatMap((v) => v.split(','));
  if (req.method === 'POST' && typeof req.body === 'string' && req.body.trim() !== '') {
    const body = resourceBody(req);
    if (!isJsonObject(body) || body.resourceType !== 'Parameters')
      throw badRequest('POST $get-ws-binding-token takes a Parameters resource (or no body)');
    for (const p of Array.isArray(body.parameter) ? body.parameter : []) {
      if (!isJsonObject(p) || p.name !== 'id') continue;
      const v = p.valueId ?? p.valueString;
      if (typeof v === 'string') ids.push(v);
    }
  }
  return [...new Set(ids.map((s) => s.trim()).filter(Boolean))];
}

export async function getWsBindingTokenOperation(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, id?: string): Promise<FastifyReply> {
  const tokens = ctx.wsBindingTokens;
  if (!tokens) throw new OperationOutcomeError(501, [issue('error', 'not-supported', 'the websocket channel is not enabled on this server')]);
  const ids = id !== undefined ? [id] : idsOf(req);
  if (ids.length === 0) throw badRequest('$get-ws-binding-token needs the id of at least one Subscription (parameter id)', 'id');
  if (ids.length > MAX_IDS) throw badRequest(`$get-ws-binding-token takes at most ${MAX_IDS} ids`, 'id');
  for (const s of ids) if (!FHIR_ID.test(s)) throw badRequest(`'${s.slice(0, 80)}' is not a FHIR id`, 'id');
  const caller = callerOf(req);
  for (const s of ids) {
    const { content } = await ctx.repo.read(caller, 'Subscription', s); // 404 unknown or not the caller's to see, 410 deleted
    const type = (JSON.parse(content ?? '{}') as { channel?: { type?: string } }).channel?.type;
    if (type !== 'websocket') throw badRequest(`Subscription/${s} has channel.type ${type ?? '(none)'}, not websocket`, 'id');
  }
  const issued = await tokens.issue(ids, req.auth);
  return sendJson(req, reply, 200, {
    resourceType: 'Parameters',
    parameter: [
      { name: 'token', valueString: issued.token },
      { name: 'expiration', valueDateTime: new Date(issued.exp * 1000).toISOString().replace('.000Z', 'Z') },
      ...ids.map((s) => ({ name: 'subscription', valueString: s })),
      { name: 'websocket-url', valueUrl: tokens.websocketUrl },
    ],
  });
}
