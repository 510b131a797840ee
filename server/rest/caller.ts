/** The repository Caller of an HTTP request: the one place the REST layer turns a request into who is acting. */
import type { FastifyRequest } from 'fastify';
import type { Caller } from '../repository/caller';

/** Until the SMART layer exists every request is anonymous and unrestricted (README: authorization). */
export function callerOf(req: FastifyRequest): Caller {
  return { actor: { kind: 'anonymous' }, requestId: req.id };
}
