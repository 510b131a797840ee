/** Reading a FHIR JSON request body (kept as text by the content-type parsers, parsed losslessly here). */
import type { FastifyRequest } from 'fastify';
import { parseFhirJson, type JsonValue } from '../fhir/json';
import { badRequest } from '../fhir/outcome';

export function resourceBody(req: FastifyRequest): JsonValue {
  const body = req.body;
  if (typeof body !== 'string' || body.trim() === '') throw badRequest('This interaction needs a FHIR resource in the request body');
  return parseFhirJson(body);
}

/** Bodies above this size (characters) take long enough to parse that the request gives way before going on. */
const BIG_BODY = 1024 * 1024;

/**
 * resourceBody for the writes (create, update, batch/transaction): after parsing a big body the request lets other
 * requests have the event loop once, so that parsing and the validation that follows (each linear in the body) do
 * not stall the process as one block.
 */
export async function writtenBody(req: FastifyRequest): Promise<JsonValue> {
  const body = resourceBody(req);
  if (typeof req.body === 'string' && req.body.length > BIG_BODY) await new Promise<void>((resolve) => setImmediate(resolve));
  return body;
}
