/**
 * The layering of server/ as DESIGN.md §2 draws it, checked on the import graph the TypeScript compiler reads:
 * no import cycles (type-only imports included: a cycle of types still ties two modules into one), fhir/ (FHIR
 * knowledge, no I/O) importing nothing but fhir/, the repository never importing rest/ or jobs/, the database
 * layer nothing above it.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const SERVER = path.resolve(__dirname, '../../server');

/** The only places a layer's modules may import from (fhir/ is FHIR knowledge, no I/O: nothing but itself). */
const ONLY: Record<string, string[]> = {
  'fhir/': ['fhir/'],
};

/** Where a layer's modules may not import from: `layer/` (a folder of server/) → forbidden folders and files. */
const FORBIDDEN: Record<string, string[]> = {
  'repository/': ['rest/', 'jobs/', 'cli/', 'app.ts', 'main.ts'],
  'database/': ['repository/', 'rest/', 'jobs/', 'cli/'],
};

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** A relative import specifier of `from` → the server/ module (path relative to server/, with .ts) it names. */
function resolve(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts'), base]) {
    if (candidate.endsWith('.ts') && fs.existsSync(candidate)) return path.relative(SERVER, candidate);
  }
  return undefined;
}

/** Every module of server/ (tests beside the code excluded) → the server/ modules it imports, re-exports or requires. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SERVER)) {
    if (file.endsWith('.test.ts')) continue;
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .filter((i) => i.fileName.startsWith('.'))
      .map((i) => {
        const target = resolve(file, i.fileName);
        if (!target) throw new Error(`${path.relative(SERVER, file)} imports '${i.fileName}', which is not a module of server/`);
        return target;
      });
    graph.set(path.relative(SERVER, file), [...new Set(targets)]);
  }
  return graph;
}

/** The strongly connected components with more than one module, or a module importing itself (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || graph.get(v)?.includes(v)) out.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

/** Imports that go against ONLY or FORBIDDEN, as `from -> to`. */
function upwardImports(graph: Map<string, string[]>): string[] {
  const out: string[] = [];
  const under = (to: string, places: string[]) => places.some((f) => to === f || to.startsWith(f));
  for (const [from, targets] of graph) {
    for (const to of targets) {
      const only = Object.entries(ONLY).find(([layer]) => from.startsWith(layer));
      const forbidden = Object.entries(FORBIDDEN).find(([layer]) => from.startsWith(layer));
      if ((only && !under(to, only[1])) || (forbidden && under(to, forbidden[1]))) out.push(`${from} -> ${to}`);
    }
  }
  return out.sort();
}

const graph = importGraph();

test('the graph is the real one: it sees the modules and their imports', () => {
  expect(graph.size).toBeGreaterThan(50);
  expect(graph.get('repository/search/execute.ts')).toEqual(
    expect.arrayContaining(['repository/search/compile/planner.ts', 'fhir/search/criteria.ts']),
  );
  expect(graph.get('fhir/search/parse.ts')).toContain('fhir/search/values.ts');
});

test('no import cycles in server/', () => {
  expect(cycles(graph)).toEqual([]);
});

test('fhir/ imports only fhir/, the repository never imports rest/ or jobs/, the database layer nothing above it', () => {
  expect(upwardImports(graph)).toEqual([]);
});

test('the checks catch what they are for', () => {
  const bad = new Map<string, string[]>([
    ['fhir/a.ts', ['repository/b.ts']],
    ['repository/b.ts', ['repository/c.ts']],
    ['repository/c.ts', ['repository/b.ts', 'rest/d.ts']],
    ['rest/d.ts', ['rest/d.ts']],
    ['rest/e.ts', ['fhir/a.ts']],
    ['fhir/f.ts', ['version.ts', 'fhir/a.ts']],
  ]);
  expect(cycles(bad).sort()).toEqual([['repository/b.ts', 'repository/c.ts'], ['rest/d.ts']]);
  expect(upwardImports(bad)).toEqual(['fhir/a.ts -> repository/b.ts', 'fhir/f.ts -> version.ts', 'repository/c.ts -> rest/d.ts']);
});
