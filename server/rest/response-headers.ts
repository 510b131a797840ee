/**
 * Headers every response carries. FHIR responses hold patient data (even an OperationOutcome may quote a value),
 * so nothing is stored by browsers or shared caches unless a route says otherwise; no response is content-sniffed
 * into something executable; and any HTML page (sign-in, consent, docs) is locked against script injection and
 * framing (clickjacking), whichever route produced it; a page that sets its own CSP keeps it.
 */
import type { FastifyInstance } from 'fastify';

const HTML_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function registerResponseHeaders(app: FastifyInstance): void {
  app.addHook('onSend', (_req, reply, payload, done) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    if (!reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
    if (
      String(reply.getHeader('Content-Type') ?? '')
        .toLowerCase()
        .startsWith('text/html')
    ) {
      // a page may set a stricter policy of its own (the authorization pages name their form targets)
      if (!reply.hasHeader('Content-Security-Policy')) reply.header('Content-Security-Policy', HTML_POLICY);
      reply.header('X-Frame-Options', 'DENY');
      reply.header('Referrer-Policy', 'no-referrer');
    }
    done(null, payload);
  });
}
