/**
 * Request bodies, before any handler sees them: which content types each route takes (a resource is FHIR JSON,
 * a JSON Patch only for PATCH, a form only for `POST [type]/_search` and `POST /_search`), decoded as strict UTF-8
 * (invalid bytes are refused, never silently replaced) and measured — element count and nesting depth — in one
 * linear pass, so that no body can make a later walk (parse, validation, extraction) blow the stack or stall
 * the process for seconds. Bodies stay text: the interaction modules parse them losslessly (fhir/json.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { OperationOutcomeError, issue } from '../fhir/outcome';

const JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json+fhir'];
const JSON_PATCH = 'application/json-patch+json';
const FORM = 'application/x-www-form-urlencoded';

export interface BodyLimits {
  maxElements: number;
  maxDepth: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

const unsupported = (req: FastifyRequest, diagnostics: string): OperationOutcomeError =>
  new OperationOutcomeError(415, [
    issue('error', 'not-supported', `Content-Type '${req.headers['content-type'] ?? ''}' is not accepted here: ${diagnostics}`),
  ]);

const tooBig = (diagnostics: string): OperationOutcomeError => new OperationOutcomeError(400, [issue('error', 'too-long', diagnostics)]);

function decode(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new OperationOutcomeError(400, [issue('error', 'invalid', 'The request body is not valid UTF-8')]);
  }
}

/**
 * Counts JSON values (each container's first member plus one per comma) and tracks nesting outside strings, on
 * the raw bytes (every structural character is ASCII, so UTF-8 needs no decoding for this). Malformed JSON is
 * left for the parser to report.
 */
export function checkJsonShape(bytes: Uint8Array, limits: BodyLimits): void {
  let depth = 0;
  let elements = 1;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === 0x22 /* " */) {
      for (i++; i < bytes.length && bytes[i] !== 0x22; i++) if (bytes[i] === 0x5c /* \ */) i++;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > limits.maxDepth) {
        throw tooBig(`The request body nests objects and arrays deeper than the server's limit of ${limits.maxDepth} levels (AROGYA_MAX_BODY_DEPTH)`);
      }
      elements++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
    else if (c === 0x2c /* , */ && ++elements > limits.maxElements) {
      throw tooBig(`The request body holds more than the server's limit of ${limits.maxElements} JSON elements (AROGYA_MAX_BODY_ELEMENTS)`);
    }
  }
}

/**
 * Form bodies are search parameters (only the `_search` endpoints take them, search.html#search-post) or OAuth
 * requests and the sign-in pages' answers (the /auth endpoints). The body is handed on as its decoded text.
 */
function takesForm(req: FastifyRequest): boolean {
  const url = req.routeOptions.url;
  return url === undefined || url.endsWith('/_search') || url.startsWith('/auth/');
}

export function registerBodyParsers(app: FastifyInstance, limits: BodyLimits): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...JSON_TYPES, JSON_PATCH], { parseAs: 'buffer' }, (req, body, done) => {
    try {
      const type = String(req.headers['content-type']).split(';')[0].trim().toLowerCase();
      if (type === JSON_PATCH && req.method !== 'PATCH')
        throw unsupported(req, 'a JSON Patch is the body of a PATCH; a resource is application/fhir+json');
      const bytes = body as Buffer;
      checkJsonShape(bytes, limits);
      done(null, decode(bytes));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  app.addContentTypeParser(FORM, { parseAs: 'buffer' }, (req, body, done) => {
    try {
      if (!takesForm(req)) throw unsupported(req, 'form bodies are search parameters (POST [type]/_search); a resource is application/fhir+json');
      done(null, decode(body as Buffer));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
}
