/**
 * meta.profile claims. This validator checks base R4 only; a claimed profile the server does not know is reported
 * as a warning (it was not checked), never as an error. Profiles shipped with R4 and the base resource definitions
 * are known. https://hl7.org/fhir/R4/resource-definitions.html#Meta.profile
 */
import { r4Model } from '../definitions';
import type { ValidationContext } from './context';

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
    if (typeof profile !== 'string' || knownProfiles().has(withoutVersion(profile))) return;
    ctx.report(
      'warning',
      'not-supported',
      `Profile ${profile} is not known to this server; the resource was not checked against it`,
      `${metaLocation}.profile[${i}]`,
    );
  });
}
