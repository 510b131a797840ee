/** PATCH bodies: JSON Patch (RFC 6902) and FHIRPath Patch (a Parameters resource), plausible and hostile. */
import { hostileString } from './hostile';
import type { Rng } from './random';
import type { ResourceGenerator } from './resources';

const PATHS = [
  '/name',
  '/name/0',
  '/name/0/family',
  '/name/-',
  '/gender',
  '/active',
  '/id',
  '/resourceType',
  '/meta',
  '/meta/versionId',
  '/status',
  '/identifier/0/value',
  '/text/div',
  '/extension',
  '/a~1b',
  '/~2',
  '/~',
  '',
  '/',
  '/name/99999999999999999999',
  '/name/-1',
  '/contained/0',
  '/__proto__/x',
];

export function jsonPatch(rng: Rng, _type: string, hostility: number): unknown[] {
  const ops: unknown[] = [];
  const n = rng.chance(0.02) ? rng.range(100, 2000) : rng.count(5, 0.4);
  for (let i = 0; i < n; i++) {
    const op = rng.pick(['add', 'remove', 'replace', 'move', 'copy', 'test', 'x']);
    const value = rng.chance(hostility * 4)
      ? hostileString(rng)
      : rng.pick<unknown>(['female', true, 1, { family: 'X' }, [{ family: 'Y' }], null, 'final', JSON.parse('{"__proto__":{"polluted":true}}')]);
    const o: Record<string, unknown> = { op, path: rng.pick(PATHS) };
    if (op === 'move' || op === 'copy') o.from = rng.pick(PATHS);
    else if (op !== 'remove' || rng.chance(0.1)) o.value = value;
    ops.push(rng.chance(0.02) ? rng.pick([{}, 'x', null, { op: 'add' }]) : o);
  }
  return ops;
}

export function fhirPathPatch(rng: Rng, type: string, gen: ResourceGenerator, hostility: number): Record<string, unknown> {
  const parameter = Array.from({ length: rng.count(4, 0.4) }, () => {
    const t = rng.pick(['add', 'insert', 'delete', 'replace', 'move', 'x']);
    const part: Record<string, unknown>[] = [
      { name: 'type', valueCode: t },
      {
        name: 'path',
        valueString: rng.pick([
          type,
          `${type}.name`,
          `${type}.name[0]`,
          `${type}.identifier.where(system='x')`,
          `${type}.extension`,
          `${type}.active`,
          `${type}.name.given`,
          '',
          '%resource',
          `${type}.descendants()`,
          `${type}.repeat(name)`,
          hostileString(rng),
        ]),
      },
    ];
    if (t === 'add' || rng.chance(0.1)) part.push({ name: 'name', valueString: rng.pick(['name', 'active', 'gender', 'zzz', '']) });
    if (t !== 'delete')
      part.push(
        rng.pick([
          { name: 'value', valueString: rng.chance(hostility * 4) ? hostileString(rng) : 'x' },
          { name: 'value', valueBoolean: true },
          { name: 'value', valueHumanName: { family: 'F' } },
          { name: 'value', part: [{ name: 'family', valueString: 'Q' }] },
          { name: 'value', valueReference: gen.reference(rng, [], { hostility, maxDepth: 1, optional: 0 }) },
        ]),
      );
    if (t === 'insert' || t === 'move') part.push({ name: 'index', valueInteger: rng.pick([0, 1, -1, 1000000]) });
    if (t === 'move') part.push({ name: 'source', valueInteger: rng.pick([0, 1, 5]) });
    return { name: 'operation', part };
  });
  return { resourceType: 'Parameters', parameter };
}
