/** The pure parts of negotiation.ts: media type selection (406 for XML only) and the Prefer header grammar. */
import { OperationOutcomeError } from '../fhir/outcome';
import { fhirRequestOf, negotiateFormat, parsePrefer } from './negotiation';

function status(f: () => unknown): number | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    return e instanceof OperationOutcomeError ? e.status : -1;
  }
}

test('_format wins over Accept; JSON aliases map to the two JSON media types', () => {
  expect(negotiateFormat('json', 'application/fhir+xml')).toBe('application/fhir+json');
  expect(negotiateFormat('application/json', undefined)).toBe('application/json');
  expect(negotiateFormat('application/fhir+json; fhirVersion=4.0', undefined)).toBe('application/fhir+json');
  expect(status(() => negotiateFormat('xml', 'application/fhir+json'))).toBe(406);
  expect(status(() => negotiateFormat('turtle', undefined))).toBe(406);
});

test('Accept: the first JSON range decides; XML-only is a 406; anything unknown falls back to FHIR JSON', () => {
  expect(negotiateFormat(undefined, undefined)).toBe('application/fhir+json');
  expect(negotiateFormat(undefined, 'application/json')).toBe('application/json');
  expect(negotiateFormat(undefined, 'application/fhir+xml;q=1, application/json;q=0.5')).toBe('application/json');
  expect(negotiateFormat(undefined, 'text/plain')).toBe('application/fhir+json');
  expect(status(() => negotiateFormat(undefined, 'application/fhir+xml'))).toBe(406);
  expect(status(() => negotiateFormat(undefined, 'text/html, application/xml'))).toBe(406);
});

test('Prefer: return, handling and respond-async in any order, case and header split', () => {
  expect(parsePrefer(undefined)).toEqual({ lenient: false, respondAsync: false });
  expect(parsePrefer('return=minimal')).toEqual({ return: 'minimal', lenient: false, respondAsync: false });
  expect(parsePrefer('Return = "OperationOutcome"').return).toBe('OperationOutcome');
  expect(parsePrefer('respond-async; handling=lenient')).toEqual({ lenient: true, respondAsync: true });
  expect(parsePrefer(['respond-async', 'return=representation'])).toEqual({ return: 'representation', lenient: false, respondAsync: true });
  expect(parsePrefer('handling=strict').lenient).toBe(false);
  expect(parsePrefer('return=everything, wait=10').return).toBeUndefined();
});

test('fhirRequestOf takes the last _format/_pretty of a repeated query parameter', () => {
  const r = fhirRequestOf({ _format: ['xml', 'json'], _pretty: ['false', 'true'] }, { prefer: 'return=minimal' });
  expect(r).toEqual({ format: 'application/fhir+json', pretty: true, prefer: { return: 'minimal', lenient: false, respondAsync: false } });
});
