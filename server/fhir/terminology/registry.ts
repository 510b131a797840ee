/**
 * The code systems and value sets this process holds in memory: the R4 core ones (core.ts, loaded on first
 * need) and those loaded at start-up from profiles/ and AROGYA_IG_DIRS packages (profiles-load.ts). Loaded
 * definitions win over core ones with the same canonical URL. Expansions are computed once and cached: the
 * definitions never change after start-up. Stored ValueSet/CodeSystem resources are not here (the repository reads
 * them when a request names them).
 */
import { coreTerminology } from './core';
import { expandDefinition, IndexedExpansion, TerminologyError, withoutVersion, type Definition, type TerminologySource } from './expand';

export class TerminologyRegistry implements TerminologySource {
  private readonly codeSystems = new Map<string, Definition>();
  private readonly valueSets = new Map<string, Definition>();
  private readonly valueSetsById = new Map<string, Definition>();
  private readonly codeSystemsById = new Map<string, Definition>();
  private coreLoaded = false;
  private readonly expansions = new Map<string, IndexedExpansion | TerminologyError>();

  constructor(private readonly withCore = true) {}

  private core(): void {
    if (this.coreLoaded || !this.withCore) return;
    this.coreLoaded = true;
    let core: ReturnType<typeof coreTerminology>;
    try {
      core = coreTerminology();
    } catch {
      // Neither shipped by `npm run build` nor the definitions package at hand: no core terminology (value sets
      // then treat core code systems as not held: open for membership checks, not expandable).
      return;
    }
    for (const cs of core.codeSystems) {
      if (!this.codeSystems.has(cs.url)) this.codeSystems.set(cs.url, cs);
      if (!this.codeSystemsById.has(cs.id)) this.codeSystemsById.set(cs.id, cs);
    }
    for (const vs of core.valueSets) {
      if (!this.valueSets.has(vs.url)) this.valueSets.set(vs.url, vs);
      if (!this.valueSetsById.has(vs.id)) this.valueSetsById.set(vs.id, vs);
    }
  }

  /** Adds a CodeSystem or ValueSet resource (start-up only). */
  add(def: Definition): void {
    if (typeof def.url !== 'string') return;
    if (def.resourceType === 'CodeSystem') {
      this.codeSystems.set(def.url, def);
      if (typeof def.id === 'string') this.codeSystemsById.set(def.id, def);
    } else if (def.resourceType === 'ValueSet') {
      this.valueSets.set(def.url, def);
      if (typeof def.id === 'string') this.valueSetsById.set(def.id, def);
    }
    this.expansions.clear();
  }

  codeSystem(url: string): Definition | undefined {
    const u = withoutVersion(url);
    const own = this.codeSystems.get(u);
    if (own || this.coreLoaded || !this.withCore) return own;
    this.core();
    return this.codeSystems.get(u);
  }

  valueSet(url: string): Definition | undefined {
    const u = withoutVersion(url);
    const own = this.valueSets.get(u);
    if (own || this.coreLoaded || !this.withCore) return own;
    this.core();
    return this.valueSets.get(u);
  }

  valueSetById(id: string): Definition | undefined {
    this.core();
    return this.valueSetsById.get(id);
  }

  codeSystemById(id: string): Definition | undefined {
    this.core();
    return this.codeSystemsById.get(id);
  }

  /** The cached, indexed expansion of a held value set; throws TerminologyError when it cannot be expanded. */
  expansion(url: string): IndexedExpansion {
    const u = withoutVersion(url);
    let e = this.expansions.get(u);
    if (!e) {
      const vs = this.valueSet(u);
      try {
        if (!vs) throw new TerminologyError('not-found', `ValueSet ${u} is not known to this server`);
        e = new IndexedExpansion(expandDefinition(vs, this));
      } catch (err) {
        if (!(err instanceof TerminologyError)) throw err;
        e = err;
      }
      this.expansions.set(u, e);
    }
    if (e instanceof TerminologyError) throw e;
    return e;
  }
}
