/**
 * Token modifiers that need terminology (search.html#token): `:in` / `:not-in` against ValueSet resources stored
 * on this server (a compose listing codes or whole code systems, nested value sets, or a stored expansion), and
 * `:above` / `:below` against the concept hierarchy of a CodeSystem stored on this server (nested concepts).
 * Full terminology services come later; anything these cannot evaluate (value set filters) is a 400, never a
 * silently wrong answer. The definitions are read with SQL when the search runs, through the uri index.
 */
import type { Db } from '../../database/pool';
import { isJsonObject, parseStoredJson, type JsonObject, type JsonValue } from '../../fhir/json';
import { badRequest, notSupported } from '../../fhir/outcome';
import { canonicalSystem } from '../../fhir/search/normalise';
import type { Criterion, ResolvedCodes } from '../../fhir/search/criteria';

async function loadByUrl(db: Db, type: 'ValueSet' | 'CodeSystem', url: string): Promise<JsonObject | undefined> {
  const [u, version] = url.split('|');
  const rel = new RegExp(`^${type}/([A-Za-z0-9\\-.]{1,64})$`).exec(u);
  const { rows } = rel
    ? await db.query<{ content: string }>(`SELECT content FROM resource WHERE resource_type = $1 AND id = $2 AND NOT deleted`, [type, rel[1]])
    : await db.query<{ content: string }>(
        `SELECT r.content FROM resource r
          WHERE r.resource_type = $1 AND NOT r.deleted
            AND r.id IN (SELECT id FROM search_uri WHERE resource_type = $1 AND param = 'url' AND value = $2)`,
        [type, u],
      );
  const all = rows.map((r) => parseStoredJson(r.content));
  return (version ? all.find((r) => r.version === version) : undefined) ?? all[0];
}

async function expandValueSet(db: Db, url: string, out: ResolvedCodes, excluded: Set<string>, depth = 0): Promise<void> {
  if (depth > 3) throw notSupported(`ValueSet ${url} nests value sets more than 3 levels deep`);
  const vs = await loadByUrl(db, 'ValueSet', url);
  if (!vs) throw badRequest(`ValueSet '${url}' is not stored on this server (:in/:not-in read value sets from the server)`);
  const compose = isJsonObject(vs.compose) ? vs.compose : undefined;
  const expansion = isJsonObject(vs.expansion) ? vs.expansion : undefined;
  if (!compose && expansion && Array.isArray(expansion.contains)) {
    const walk = (items: JsonValue[]): void => {
      for (const c of items) {
        if (!isJsonObject(c)) continue;
        if (typeof c.code === 'string') out.pairs.push({ system: typeof c.system === 'string' ? canonicalSystem(c.system) : null, code: c.code });
        if (Array.isArray(c.contains)) walk(c.contains);
      }
    };
    walk(expansion.contains);
    return;
  }
  if (!compose) throw notSupported(`ValueSet '${url}' has neither a compose nor an expansion`);
  for (const ex of Array.isArray(compose.exclude) ? compose.exclude : []) {
    if (!isJsonObject(ex) || typeof ex.system !== 'string' || !Array.isArray(ex.concept)) {
      throw notSupported(`ValueSet '${url}': only excludes that list concepts of a system are supported`);
    }
    for (const c of ex.concept) if (isJsonObject(c) && typeof c.code === 'string') excluded.add(`${canonicalSystem(ex.system)}|${c.code}`);
  }
  for (const inc of Array.isArray(compose.include) ? compose.include : []) {
    if (!isJsonObject(inc)) continue;
    if (inc.filter) throw notSupported(`ValueSet '${url}' uses filters, which this server does not evaluate yet`);
    for (const nested of Array.isArray(inc.valueSet) ? inc.valueSet : [])
      if (typeof nested === 'string') await expandValueSet(db, nested, out, excluded, depth + 1);
    if (typeof inc.system !== 'string') continue;
    const system = canonicalSystem(inc.system);
    if (Array.isArray(inc.concept)) {
      for (const c of inc.concept) if (isJsonObject(c) && typeof c.code === 'string') out.pairs.push({ system, code: c.code });
    } else out.systems.push(system);
  }
}

interface Concept {
  code: string;
  children: Concept[];
}

function conceptsOf(items: JsonValue): Concept[] {
  if (!Array.isArray(items)) return [];
  return items
    .filter(isJsonObject)
    .filter((c) => typeof c.code === 'string')
    .map((c) => ({ code: c.code as string, children: conceptsOf(c.concept ?? []) }));
}

/** The code and its descendants (below) or ancestors (above) in a nested concept tree. */
function hierarchy(roots: Concept[], code: string, below: boolean): string[] | undefined {
  const path: Concept[] = [];
  const find = (nodes: Concept[]): Concept | undefined => {
    for (const n of nodes) {
      path.push(n);
      if (n.code === code) return n;
      const f = find(n.children);
      if (f) return f;
      path.pop();
    }
    return undefined;
  };
  const hit = find(roots);
  if (!hit) return undefined;
  if (!below) return path.map((n) => n.code);
  const out: string[] = [];
  const walk = (n: Concept): void => {
    out.push(n.code);
    n.children.forEach(walk);
  };
  walk(hit);
  return out;
}

async function resolveOne(db: Db, c: Extract<Criterion, { kind: 'terminology' }>): Promise<void> {
  const out: ResolvedCodes = { pairs: [], systems: [] };
  if (c.modifier === 'in' || c.modifier === 'not-in') {
    for (const v of c.values) {
      const url = v.system ? `${v.system}|${v.code ?? ''}`.replace(/\|$/, '') : v.code;
      if (!url) continue;
      const excluded = new Set<string>();
      const part: ResolvedCodes = { pairs: [], systems: [] };
      await expandValueSet(db, url, part, excluded);
      out.pairs.push(...part.pairs.filter((p) => !excluded.has(`${p.system}|${p.code}`)));
      out.systems.push(...part.systems);
    }
  } else {
    for (const v of c.values) {
      if (v.code === null) continue;
      const system = typeof v.system === 'string' ? v.system : undefined;
      const cs = system ? await loadByUrl(db, 'CodeSystem', system) : undefined;
      const codes = cs ? hierarchy(conceptsOf(cs.concept ?? []), v.code, c.modifier === 'below') : undefined;
      for (const code of codes ?? [v.code]) out.pairs.push({ system: v.system, code });
    }
  }
  c.resolved = out;
}

/** Resolves every terminology criterion (also inside chains and _has) in place. */
export async function resolveTerminology(db: Db, criteria: Criterion[]): Promise<void> {
  for (const c of criteria) {
    if (c.kind === 'terminology') await resolveOne(db, c);
    else if (c.kind === 'chain')
      await resolveTerminology(
        db,
        c.targets.map((t) => t.criterion),
      );
    else if (c.kind === 'has') await resolveTerminology(db, [c.criterion]);
  }
}
