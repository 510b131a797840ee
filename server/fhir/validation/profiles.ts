/**
 * meta.profile claims (https://hl7.org/fhir/R4/resource-definitions.html#Meta.profile). A claim of a profile
 * loaded at start-up (profiles/, AROGYA_IG_DIRS; profile/set.ts) is checked by the profile engine; a claim of a
 * profile the server does not know is reported as a warning (it was not checked), never as an error. Profiles
 * shipped with R4 and the base resource definitions are known (base validation covers the base ones).
 * With AROGYA_REQUIRE_PROFILES, a resource of a required type must claim its profile (and conform to it).
 */
import { r4Model } from '../definitions';
import type { Issue } from '../outcome';
import type { ValidationContext } from './context';
import type { ProfileSet } from './profile/set';

let known: Set<string> | undefined;

function knownProfiles(): Set<string> {
  if (!known) {
    const model = r4Model();
    known = new Set(model.knownProfiles);
    for (const t of Object.values(model.types)) known.add(t.url);
  }
  return known;
}

/** A canonical may carry a version (`url|4.0.1`); the version does not change whether we know the profile. */
function withoutVersion(canonical: string): string {
  const bar = canonical.indexOf('|');
  return bar < 0 ? canonical : canonical.slice(0, bar);
}

export function checkProfiles(ctx: ValidationContext, meta: Record<string, unknown>, metaLocation: string): void {
  const profiles = meta.profile;
  if (!Array.isArray(profiles)) return; // wrong shapes are reported by the structural walk
  profiles.forEach((profile: unknown, i) => {
    if (typeof profile !== 'string' || knownProfiles().has(withoutVersion(profile)) || ctx.profiles?.profile(profile)) return;
    ctx.report(
      'warning',
      'not-supported',
      `Profile ${profile} is not known to this server; the resource was not checked against it`,
      `${metaLocation}.profile[${i}]`,
    );
  });
}

const profileIssues = new WeakSet<Issue>();

/** Whether an issue came from a profile check (a write refused only by profiles is a 422, not a 400). */
export function isProfileIssue(issue: Issue): boolean {
  return profileIssues.has(issue);
}

/** Checks the resource against every loaded profile it claims, is required to claim, or is asked for. */
export function checkProfileClaims(resource: unknown, set: ProfileSet, also: string[]): Issue[] {
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) return [];
  const r = resource as Record<string, unknown>;
  const type = String(r.resourceType);
  const meta = r.meta as { profile?: unknown } | undefined;
  const claimed = Array.isArray(meta?.profile) ? meta.profile.filter((p): p is string => typeof p === 'string').map(withoutVersion) : [];
  const out: Issue[] = [];
  const urls = new Set<string>();
  for (const url of [...claimed, ...also.map(withoutVersion)]) if (set.profile(url)) urls.add(url);
  for (const req of set.requiredFor(r)) {
    if (!claimed.includes(req.url)) {
      out.push({
        severity: 'error',
        code: 'required',
        diagnostics: `A ${type} must claim the profile ${req.url} in meta.profile (AROGYA_REQUIRE_PROFILES)`,
        expression: [`${type}.meta.profile`],
      });
    }
    urls.add(req.url);
  }
  for (const url of urls) out.push(...set.validate(r, set.profile(url)!));
  for (const i of out) profileIssues.add(i);
  return out;
}
