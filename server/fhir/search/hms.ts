/**
 * Search parameters the server defines for the HMS resources (HMS-DOMAIN §0, §4.11), built in like the R4 ones:
 * extracted on every write and listed in the CapabilityStatement. No I/O.
 *
 * - `Basic` `stock-location` (reference → Location): a stock item's dispensary, from its `stock-location`
 *   extension, so `GET /Basic?code=https://arogya.dev/fhir/CodeSystem/hms-basic-type|stock-item&stock-location=Location/x`
 *   lists a dispensary's stock (`subject` and `author` are R4's own Basic parameters).
 * - `ChargeItemDefinition` `instance` (reference → Medication, Substance, Device) and `code` (token): R4 defines
 *   neither, yet a price list is looked up by what it prices — the billing workflow finds a medicine's price by
 *   `instance` and a lab test's by `code` (HMS-DOMAIN §0 "prices"), one indexed probe each.
 */
export interface ServerSearchParam {
  url: string;
  code: string;
  base: string;
  type: 'reference' | 'token';
  expression: string;
  target?: string[];
}

export const HMS_SEARCH_PARAMS: readonly ServerSearchParam[] = [
  {
    url: 'https://arogya.dev/fhir/SearchParameter/Basic-stock-location',
    code: 'stock-location',
    base: 'Basic',
    type: 'reference',
    expression: "Basic.extension('https://arogya.dev/fhir/StructureDefinition/stock-location')",
    target: ['Location'],
  },
  {
    url: 'https://arogya.dev/fhir/SearchParameter/ChargeItemDefinition-instance',
    code: 'instance',
    base: 'ChargeItemDefinition',
    type: 'reference',
    expression: 'ChargeItemDefinition.instance',
    target: ['Medication', 'Substance', 'Device'],
  },
  {
    url: 'https://arogya.dev/fhir/SearchParameter/ChargeItemDefinition-code',
    code: 'code',
    base: 'ChargeItemDefinition',
    type: 'token',
    expression: 'ChargeItemDefinition.code',
  },
];
