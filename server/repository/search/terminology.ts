/**
 * Token modifiers that need terminology (search.html#token): `:in` / `:not-in` expand the named value set with
 * the terminology engine (fhir/terminology/expand.ts, the same code as `ValueSet/$expand` and required-binding
 * validation), and `:above` / `:below` walk a code system's concept hierarchy. Definitions come from the
 * resources stored on this server first (a stored definition wins over a loaded one with the same URL), then from
 * the ones held in memory (R4 core, profiles/, AROGYA_IG_DIRS). Anything the engine cannot evaluate is a 400,
 * never a silently wrong answer. Stored definitions are read with SQL here, through the uri index.
 */
import type { Db } from '../../database/pool';
import { isJsonObject, parseStoredJson, type JsonObject } from '../../fhir/json';
import { badRequest, notSupported, OperationOutcomeError, issue } from '../../fhir/outcome';
import { canonicalSystem } from '../../fhir/search/normalise';
import type { Criterion, ResolvedCodes } from '../../fhir/search/criteria';
import {
  expandDefinition,
  lookupCode,
  TerminologyError,
  withoutVersion,
  type Definition,
  type Expansion,
  type TerminologySource,
} from '../../fhir/terminology/expand';
import type { TerminologyRegistry } from '../../fhir/terminology/registry';

export async function loadByUrl(db: Db, type: 'ValueSet' | 'CodeSystem', url: string): Promise<JsonObject | undefined> {
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

/**
 * A terminology source for one request: the stored definitions the value set needs (read now, following nested
 * value sets and the code systems it includes), then the registry's.
 */
export async function storedSource(db: Db, registry: TerminologyRegistry | undefined, rootUrl: string): Promise<TerminologySource> {
  const valueSets = new Map<string, Definition>();
  const codeSystems = new Map<string, Definition>();
  const pending = [rootUrl];
  const seen = new Set<string>();
  while (pending.length && seen.size < 50) {
    const url = pending.shift()!;
    if (seen.has(url)) continue;
    seen.add(url);
    const vs = (await loadByUrl(db, 'ValueSet', url)) ?? registry?.valueSet(url);
    if (!vs) continue;
    valueSets.set(withoutVersion(url), vs);
    const compose = isJsonObject(vs.compose) ? vs.compose : undefined;
    for (const part of [...(Array.isArray(compose?.include) ? compose.include : []), ...(Array.isArray(compose?.exclude) ? compose.exclude : [])]) {
      if (!isJsonObject(part)) continue;
      for (const nested of Array.isArray(part.valueSet) ? part.valueSet : []) if (typeof nested === 'string') pending.push(nested);
      const system = typeof part.system === 'string' ? part.system : undefined;
      if (system && !codeSystems.has(system)) {
        const cs = await loadByUrl(db, 'CodeSystem', system);
        if (cs) codeSystems.set(system, cs);
      }
    }
  }
  return {
    valueSet: (url) => valueSets.get(withoutVersion(url)) ?? registry?.valueSet(url),
    codeSystem: (url) => codeSystems.get(withoutVersion(url)) ?? registry?.codeSystem(url),
  };
}

/** TerminologyError → the OperationOutcome a request gets. */
export function terminologyFailure(e: unknown): unknown {
  if (!(e instanceof TerminologyError)) return e;
  if (e.kind === 'not-found') return badRequest(e.message);
  if (e.kind === 'too-costly') return new OperationOutcomeError(400, [issue('error', 'too-costly', e.message)]);
  return notSupported(e.message);
}

/** Expands a value set named by canonical URL (or `ValueSet/id`), stored or held. */
export async function expandByUrl(db: Db, registry: TerminologyRegistry | undefined, url: string): Promise<Expansion> {
  const source = await storedSource(db, registry, url);
  const vs = source.valueSet(url);
  if (!vs) throw badRequest(`ValueSet '${url}' is not known to this server (neither stored nor loaded)`);
  try {
    return expandDefinition(vs, source);
  } catch (e) {
    throw terminologyFailure(e);
  }
}

async function resolveOne(db: Db, c: Extract<Criterion, { kind: 'terminology' }>, registry: TerminologyRegistry | undefined): Promise<void> {
  const out: ResolvedCodes = { pairs: [], systems: [] };
  if (c.modifier === 'in' || c.modifier === 'not-in') {
    for (const v of c.values) {
      const url = v.system ? `${v.system}|${v.code ?? ''}`.replace(/\|$/, '') : v.code;
      if (!url) continue;
      const expansion = await expandByUrl(db, registry, url);
      for (const concept of expansion.concepts) out.pairs.push({ system: canonicalSystem(concept.system), code: concept.code });
      for (const system of expansion.openSystems) out.systems.push(canonicalSystem(system));
    }
  } else {
    for (const v of c.values) {
      if (v.code === null) continue;
      const system = typeof v.system === 'string' ? v.system : undefined;
      const cs = system ? ((await loadByUrl(db, 'CodeSystem', system)) ?? registry?.codeSystem(system)) : undefined;
      const codes = cs ? hierarchy(cs, v.code, c.modifier === 'below') : undefined;
      for (const code of codes ?? [v.code]) out.pairs.push({ system: v.system, code });
    }
  }
  c.resolved = out;
}

/** The code and its descendants (below) or ancestors (above) in a code system's nested concepts. */
function hierarchy(cs: Definition, code: string, below: boolean): string[] | undefined {
  const found = lookupCode(cs, code);
  if (!found) return undefined;
  if (!below) {
    const out = [code];
    let parent = found.parents[0];
    while (parent) {
      out.push(parent);
      parent = lookupCode(cs, parent)?.parents[0] as string;
    }
    return out;
  }
  const out: string[] = [];
  const walk = (c: string): void => {
    out.push(c);
    for (const child of lookupCode(cs, c)?.children ?? []) walk(child);
  };
  walk(code);
  return out;
}

/** Resolves every terminology criterion (also inside chains and _has) in place. */
export async function resolveTerminology(db: Db, criteria: Criterion[], registry?: TerminologyRegistry): Promise<void> {
  for (const c of criteria) {
    if (c.kind === 'terminology') await resolveOne(db, c, registry);
    else if (c.kind === 'chain')
      await resolveTerminology(
        db,
        c.targets.map((t) => t.criterion),
        registry,
      );
    else if (c.kind === 'has') await resolveTerminology(db, [c.criterion], registry);
  }
}
