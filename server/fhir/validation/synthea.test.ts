/**
 * Real data: every resource of the shared Synthea fixtures (transaction/batch Bundles; each entry.resource is
 * validated on its own, as a write would be) must have no error. US Core profile claims give warnings only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseFhirJson } from '../json';
import type { Issue } from '../outcome';
import { validateResource } from './index';

const FIXTURES = path.resolve(__dirname, '../../../../shared/fixtures/synthea');
const present = fs.existsSync(FIXTURES);

if (!present) {
  const message = `Synthea fixtures not found at ${FIXTURES}`;
  if (process.env.CI === 'true') throw new Error(`${message}; they are required in CI`);
  console.warn(`${message}: skipping the Synthea validation tests`);
}

function bundles(): string[] {
  return fs
    .readdirSync(FIXTURES, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      fs
        .readdirSync(path.join(FIXTURES, d.name))
        .filter((f) => f.endsWith('.json'))
        .map((f) => path.join(FIXTURES, d.name, f)),
    );
}

(present ? describe : describe.skip)('Synthea fixtures', () => {
  it('every entry resource validates without errors', () => {
    const failures: string[] = [];
    const warnings = new Map<string, number>();
    let count = 0;
    for (const file of bundles()) {
      const bundle = parseFhirJson(fs.readFileSync(file, 'utf8')) as { entry: { resource: { resourceType: string; id?: string } }[] };
      for (const { resource } of bundle.entry) {
        count++;
        const issues: Issue[] = validateResource(resource);
        for (const i of issues) {
          if (i.severity === 'error')
            failures.push(`${path.basename(file)} ${resource.resourceType}/${resource.id}: ${i.expression?.[0]} ${i.diagnostics}`);
          else warnings.set(i.code, (warnings.get(i.code) ?? 0) + 1);
        }
      }
    }
    expect(count).toBeGreaterThan(1000);
    expect(failures).toEqual([]);
    // Only the expected kinds of warnings: unknown (US Core) profiles and dom-6 (no narrative).
    for (const code of warnings.keys()) expect(['not-supported', 'invariant']).toContain(code);
  });
});
