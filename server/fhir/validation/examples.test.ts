/**
 * Every example of the official R4 (4.0.1) package through the validator: all must pass, except the examples that
 * are invalid as published, listed with the reason in invalid-examples.json (each one was checked by hand).
 *
 * The ~5,300 files (~300 MB of JSON) are validated in worker threads, outside Jest's VM sandbox: there, every
 * global lookup goes through the sandbox (`instanceof Promise` costs ~80× more), which makes fhirpath.js ~3×
 * slower than in the server. The workers run the same TypeScript sources, compiled with SWC like Jest does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import invalidExamples from './invalid-examples.json';

const dir = path.dirname(require.resolve('hl7.fhir.r4.examples/package.json'));

interface Failure {
  file: string;
  first: string;
}
interface WorkerResult {
  checked: number;
  failures: Failure[];
  skipped: [string, string][];
}

/** Plain JavaScript run by each worker: compiles .ts on require, validates its share of the files. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const swc = require(workerData.swc);
require.extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformSync(fs.readFileSync(filename, 'utf8'), {
    filename, jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
const { validateResource } = require(workerData.validation);
const { skippedInvariants } = require(workerData.invariants);
const { parseFhirJson } = require(workerData.json);
const { isResourceType } = require(workerData.definitions);
const failures = [];
let checked = 0;
for (const file of workerData.files) {
  const resource = parseFhirJson(fs.readFileSync(path.join(workerData.dir, file), 'utf8'));
  if (typeof resource?.resourceType !== 'string' || !isResourceType(resource.resourceType)) continue;
  checked++;
  const error = validateResource(resource).find((i) => i.severity === 'error');
  if (error) failures.push({ file, first: (error.expression?.[0] ?? '') + ': ' + error.diagnostics });
}
parentPort.postMessage({ checked, failures, skipped: [...skippedInvariants()] });
`;

function validateInWorker(files: string[]): Promise<WorkerResult> {
  const workerData = {
    swc: require.resolve('@swc/core'),
    validation: require.resolve('./index.ts'),
    invariants: require.resolve('./invariants.ts'),
    json: require.resolve('../json.ts'),
    definitions: require.resolve('../definitions.ts'),
    dir,
    files,
  };
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`validation worker exited with code ${code}`)));
  });
}

describe('the R4 examples package', () => {
  it('validates every example; exactly the known-invalid ones fail', async () => {
    const files = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.json') && f !== 'package.json' && !f.startsWith('.'))
      .sort();
    // Largest files first, dealt round-robin, so the workers finish at about the same time.
    const bySize = [...files].sort((a, b) => fs.statSync(path.join(dir, b)).size - fs.statSync(path.join(dir, a)).size);
    const workers = Math.max(1, Math.min(2, os.availableParallelism()));
    const shares = Array.from({ length: workers }, (_, w) => bySize.filter((_f, i) => i % workers === w));
    const results = await Promise.all(shares.map(validateInWorker));

    const checked = results.reduce((n, r) => n + r.checked, 0);
    const failures = results.flatMap((r) => r.failures).sort((a, b) => (a.file < b.file ? -1 : 1));
    const skipped = new Map(results.flatMap((r) => r.skipped));
    console.log(
      [
        `${checked} R4 examples validated, ${failures.length} with errors:`,
        ...failures.map((f) => `  ${f.file}: ${f.first}`),
        `invariants skipped (fhirpath.js cannot evaluate them): ${[...skipped].map(([k, why]) => `${k} (${why})`).join('; ') || 'none'}`,
      ].join('\n'),
    );
    expect(checked).toBeGreaterThan(5000);
    expect(failures.map((f) => f.file)).toEqual(Object.keys(invalidExamples).sort());
  }, 180_000);
});
