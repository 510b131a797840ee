/** Reading a FHIR JSON request body (kept as text by the content-type parsers, parsed losslessly here). */
import type { FastifyRequest } from 'fastify';
import { parseFhirJson, type JsonValue } from '../fhir/json';
import { badRequest } from '../fhir/outcome';

export function resourceBody(req: FastifyRequest): JsonValue {
  const body = req.body;
  if (typeof body !== 'string' || body.trim() === '') throw badRequest('This interaction needs a FHIR resource in the request body');
  return parseFhirJson(body);
}
