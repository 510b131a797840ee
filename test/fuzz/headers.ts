/**
 * Hostile request headers: content negotiation the server must refuse cleanly (Accept, Content-Type), Prefer
 * variants, malformed conditional headers (If-Match, If-None-Match, If-Modified-Since, If-None-Exist), request ids,
 * and headers large enough to reach the server's header limit.
 */
import { hostileString } from './hostile';
import type { Rng } from './random';

/** Header values must be Latin-1 without control characters (Node refuses to send others). */
export function headerSafe(s: string): string {
  return s.replace(/[^\t\x20-\x7e\x80-\xff]/g, (c) => `%u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function hostileHeaders(rng: Rng, hasBody: boolean, criteria: () => string): Record<string, string> {
  const h: Record<string, string> = {};
  const n = rng.count(4, 0.4);
  for (let i = 0; i < n; i++) {
    switch (
      rng.weighted({
        accept: 3,
        contentType: hasBody ? 3 : 0.5,
        prefer: 3,
        ifMatch: 1.5,
        ifNoneMatch: 1,
        ifModifiedSince: 1,
        ifNoneExist: 1.5,
        requestId: 1.5,
        huge: 0.6,
        other: 1,
      })
    ) {
      case 'accept':
        h.accept = rng.pick([
          'application/fhir+json',
          'application/json',
          'application/fhir+xml',
          'application/xml',
          'text/html',
          '*/*',
          'text/plain',
          'application/fhir+json; fhirVersion=3.0',
          'application/fhir+json;q=0.1, application/xml;q=0.9',
          '',
          ';;;',
          'application/*',
          headerSafe(hostileString(rng)).slice(0, 2000),
        ]);
        break;
      case 'contentType':
        h['content-type'] = rng.pick([
          'application/fhir+json',
          'application/json',
          'application/fhir+json; charset=utf-8',
          'application/fhir+json; charset=latin1',
          'application/fhir+json; charset=utf-16',
          'application/json-patch+json',
          'application/x-www-form-urlencoded',
          'application/fhir+xml',
          'text/plain',
          'multipart/form-data; boundary=x',
          'application/octet-stream',
          'application/fhir+ndjson',
          '',
          'application/',
          headerSafe(hostileString(rng)).slice(0, 500),
        ]);
        break;
      case 'prefer':
        h.prefer = rng.pick([
          'return=minimal',
          'return=representation',
          'return=OperationOutcome',
          'handling=lenient',
          'handling=strict',
          'respond-async',
          'return=representation, handling=lenient',
          'return=',
          'handling=x',
          '=',
          headerSafe(hostileString(rng)).slice(0, 500),
        ]);
        break;
      case 'ifMatch':
        h['if-match'] = rng.pick([
          'W/"1"',
          'W/"2"',
          '"1"',
          '*',
          'W/""',
          'W/"-1"',
          'W/"99999999999999999999"',
          'W/"1.5"',
          'garbage',
          '',
          headerSafe(hostileString(rng)).slice(0, 200),
        ]);
        break;
      case 'ifNoneMatch':
        h['if-none-match'] = rng.pick(['W/"1"', '*', 'x', 'W/"abc"']);
        break;
      case 'ifModifiedSince':
        h['if-modified-since'] = rng.pick(['Sat, 01 Jan 2000 00:00:00 GMT', 'yesterday', '0', 'Thu, 31 Dec 9999 23:59:59 GMT', '']);
        break;
      case 'ifNoneExist':
        h['if-none-exist'] = rng.chance(0.7) ? criteria() : headerSafe(hostileString(rng)).slice(0, 1000);
        break;
      case 'requestId':
        h['x-request-id'] = rng.pick(['abc', 'a'.repeat(129), 'a b', '../x', '%00', '', headerSafe(hostileString(rng)).slice(0, 300)]);
        break;
      case 'huge':
        // mostly under Node's/the server's header limit, sometimes over it (→ 431)
        h[`x-fuzz-${rng.int(5)}`] = 'a'.repeat(rng.chance(0.3) ? rng.range(250_000, 400_000) : rng.range(1000, 60_000));
        break;
      default:
        h[
          rng.pick([
            'authorization',
            'cookie',
            'x-forwarded-for',
            'x-forwarded-host',
            'origin',
            'range',
            'expect',
            'transfer-encoding-x',
            'content-encoding',
          ])
        ] = rng.pick(['Bearer x', 'a=b', '1.2.3.4', 'evil.example', 'bytes=0-1', 'gzip', 'br', headerSafe(hostileString(rng)).slice(0, 300)]);
    }
  }
  return h;
}
