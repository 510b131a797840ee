/**
 * The static analysis that skips invariants already decided by which properties are present. It must be sound:
 * every condition it returns must make the expression true, whatever the rest of the data.
 */
import { compile, type Model } from 'fhirpath';
import * as r4 from 'fhirpath/fhir-context/r4';
import { trueConditions, type Literal } from './invariant-guards';

const show = (conditions: Literal[][]) =>
  conditions.map((c) => c.map((l) => ('equals' in l ? `${l.name}=${JSON.stringify(l.equals)}` : `${l.present ? '+' : '-'}${l.name}`)).join('&'));

describe('invariant guards', () => {
  it.each([
    ['code.empty() or system.exists()', ['-code', '+system']],
    ['value.empty() or system.exists()', ['-value', '+system']],
    ['start.hasValue().not() or end.hasValue().not() or (start <= end)', ['-start', '-end']],
    ['contentReference.empty() or (type.empty() and defaultValue.empty())', ['-contentReference', '-type&-defaultValue']],
    ['onBehalfOf.exists() implies (member.resolve().iif(empty(), true, ofType(Practitioner).exists()))', ['-onBehalfOf']],
    ['(isModifier.exists() and isModifier) implies isModifierReason.exists()', ['-isModifier', 'isModifier=false', '+isModifierReason']],
    ["min.empty() or max.empty() or (max = '*') or iif(max != '*', min <= max.toInteger())", ['-min', '-max', 'max="*"']],
    ["(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()", ['type="history"', '-entry']],
    ['type.select(code).isDistinct()', ['-type']],
    ["binding.valueSet.exists() implies binding.valueSet.startsWith('http:')", ['-binding']],
    ['resource.exists() or request.exists() or response.exists()', ['+resource', '+request', '+response']],
    // nothing can be concluded from these
    ["name.matches('[A-Z]')", []],
    ['extension.exists() != value.exists()', []],
    ['a.exists() xor b.exists()', []],
    ['%resource.a.empty()', []],
    ['$this.a.empty()', []],
    ['a.count() = 0', []],
    ['a.b.exists()', []],
    ['not valid FHIRPath (', []],
  ])('%s', (expression, expected) => {
    expect(show(trueConditions(expression))).toEqual(expected);
  });

  it('is sound: fhirpath.js agrees the expression holds whenever a condition does', () => {
    const model = r4 as unknown as Model;
    const cases: [string, Record<string, unknown>][] = [
      ['code.empty() or system.exists()', { unit: 'mg' }],
      ['code.empty() or system.exists()', { code: 'mg', system: 'http://unitsofmeasure.org' }],
      ['start.hasValue().not() or end.hasValue().not() or (start <= end)', { end: '2020' }],
      ["min.empty() or max.empty() or (max = '*') or iif(max != '*', min <= max.toInteger())", { min: 5, max: '*' }],
      ['(isModifier.exists() and isModifier) implies isModifierReason.exists()', { isModifier: false }],
    ];
    for (const [expression, data] of cases) {
      const holds = trueConditions(expression).some((c) =>
        c.every((l) => ('equals' in l ? data[l.name] === l.equals : (data[l.name] !== undefined) === l.present)),
      );
      expect(holds).toBe(true);
      expect(compile(expression, model)(data)).toEqual([true]);
    }
  });
});
