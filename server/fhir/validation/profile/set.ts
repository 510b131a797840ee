/**
 * The profiles this process validates against (loaded at start-up from profiles/ and AROGYA_IG_DIRS packages by
 * server/conformance-load.ts; no I/O here), the terminology they bind to, and which profile a resource type must
 * claim when profiles are required (AROGYA_REQUIRE_PROFILES=hms).
 */
import { r4Model } from '../../definitions';
import type { Issue } from '../../outcome';
import type { Definition } from '../../terminology/expand';
import { TerminologyRegistry } from '../../terminology/registry';
import { coreTypeOf, ProfileChecker, type ProfileLookup } from './check';
import { compileProfile, ProfileError, type CompiledProfile } from './compile';
export { ProfileError };
import { withSnapshot } from './snapshot';

/** A profile a resource must claim (and conform to) when profiles are required. */
export interface RequiredProfile {
  url: string;
  /** The resources of the type it applies to (e.g. only dispensary Locations); all of them when undefined. */
  appliesTo?: (resource: Record<string, unknown>) => boolean;
}

export class ProfileSet implements ProfileLookup {
  private readonly byUrl = new Map<string, CompiledProfile>();
  private readonly required = new Map<string, RequiredProfile[]>();
  /** Where each profile came from (profiles/ or a package folder): for listing. */
  readonly origins = new Map<string, string>();

  constructor(readonly terminology: TerminologyRegistry = new TerminologyRegistry()) {}

  /**
   * Adds conformance resources: constraint StructureDefinitions (compiled), CodeSystems and ValueSets (to the
   * terminology). Returns what could not be used, one message each (start-up logs them).
   */
  addAll(defs: Definition[], origin: string): string[] {
    const problems: string[] = [];
    for (const d of defs) {
      if (d.resourceType === 'CodeSystem' || d.resourceType === 'ValueSet') this.terminology.add(d);
      else if (d.resourceType === 'StructureDefinition') {
        if (d.derivation !== 'constraint') continue; // logical models, new types: nothing to validate against
        try {
          const p = compileProfile(d);
          this.byUrl.set(p.url, p);
          this.origins.set(p.url, origin);
        } catch (e) {
          problems.push(`${origin}: ${e instanceof ProfileError ? e.message : String(e)}`);
        }
      }
    }
    return problems;
  }

  profile(url: string): CompiledProfile | undefined {
    const bar = url.indexOf('|');
    return this.byUrl.get(bar < 0 ? url : url.slice(0, bar));
  }

  private readonly snapshots = new Map<string, Definition>();

  /** The loaded profile's StructureDefinition with its generated snapshot (snapshot.ts), made once. */
  snapshot(url: string): Definition | undefined {
    const p = this.profile(url);
    if (!p) return undefined;
    let sd = this.snapshots.get(p.url);
    if (!sd) {
      const base = this.profile(p.baseDefinition);
      sd = withSnapshot(p, base && base.url !== p.url ? this.snapshot(base.url) : undefined);
      this.snapshots.set(p.url, sd);
    }
    return sd;
  }

  /** A snapshot for a StructureDefinition that is not loaded (`$snapshot` with a definition). */
  snapshotOf(sd: Definition): Definition {
    const p = compileProfile(sd);
    const base = this.profile(p.baseDefinition);
    return withSnapshot(p, base ? this.snapshot(base.url) : undefined);
  }

  list(): CompiledProfile[] {
    return [...this.byUrl.values()];
  }

  typeOf(url: string): string | undefined {
    const core = coreTypeOf(url);
    if (core) return core === 'Resource' || r4Model().types[core] ? core : undefined;
    return this.profile(url)?.type;
  }

  require(type: string, profile: RequiredProfile): void {
    const list = this.required.get(type) ?? [];
    list.push(profile);
    this.required.set(type, list);
  }

  /** The profiles a resource must claim (AROGYA_REQUIRE_PROFILES). */
  requiredFor(resource: Record<string, unknown>): RequiredProfile[] {
    const list = this.required.get(String(resource.resourceType));
    return list ? list.filter((p) => !p.appliesTo || p.appliesTo(resource)) : [];
  }

  /** Adds the claims of the profiles the resource is required to claim (for the server's own writes). */
  claimRequired(resource: Record<string, unknown>): void {
    const required = this.requiredFor(resource);
    if (!required.length) return;
    const meta = (typeof resource.meta === 'object' && resource.meta !== null ? { ...(resource.meta as Record<string, unknown>) } : {}) as Record<
      string,
      unknown
    >;
    const claimed = Array.isArray(meta.profile) ? [...meta.profile] : [];
    for (const r of required) if (!claimed.some((c) => typeof c === 'string' && c.split('|')[0] === r.url)) claimed.push(r.url);
    meta.profile = claimed;
    resource.meta = meta;
  }

  /** Validates a resource against one loaded profile; the issues carry the profile's URL. */
  validate(resource: Record<string, unknown>, profile: CompiledProfile): Issue[] {
    const checker = new ProfileChecker(this, resource, profile.url);
    const type = String(resource.resourceType);
    if (profile.type !== type && profile.type !== 'Resource' && profile.type !== 'DomainResource') {
      return [
        {
          severity: 'error',
          code: 'invalid',
          diagnostics: `Profile ${profile.url} constrains ${profile.type}, not ${type}`,
          expression: [type],
        },
      ];
    }
    checker.checkProfile(profile, resource, type);
    return checker.issues;
  }
}
