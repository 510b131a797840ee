/**
 * Start-up loading of conformance resources (the only I/O of profiles and terminology): the HMS profiles in the
 * repository's profiles/ folder, then every IG package folder of AROGYA_IG_DIRS — each an unpacked FHIR package
 * (a package.json beside StructureDefinition, ValueSet and CodeSystem JSON files, or the same inside a `package/`
 * subfolder as in a package tarball). Constraint StructureDefinitions are compiled for validation on write and
 * `$validate`; CodeSystems and ValueSets join the terminology (fhir/terminology/registry.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from './config';
import { parseFhirJson, isJsonObject } from './fhir/json';
import type { Definition } from './fhir/terminology/expand';
import { ProfileSet } from './fhir/validation/profile/set';

export const HMS_BASE = 'https://arogya.dev/fhir';
const SD = `${HMS_BASE}/StructureDefinition`;

/** AROGYA_REQUIRE_PROFILES=hms: the profile each HMS resource type must claim (HMS-DOMAIN §4). */
function hasCoding(resource: Record<string, unknown>, key: string, system: string, codes: string[]): boolean {
  const v = resource[key];
  const list = Array.isArray(v) ? v : v ? [v] : [];
  return list.some(
    (cc) =>
      isJsonObject(cc) &&
      Array.isArray(cc.coding) &&
      cc.coding.some((c) => isJsonObject(c) && c.system === system && typeof c.code === 'string' && codes.includes(c.code)),
  );
}

export function requireHmsProfiles(set: ProfileSet): void {
  const all: [string, string][] = [
    ['Patient', 'hms-patient'],
    ['Practitioner', 'hms-practitioner'],
    ['Organization', 'hms-organization'],
    ['Encounter', 'hms-encounter-opd'],
    ['MedicationRequest', 'hms-medicationrequest'],
    ['MedicationDispense', 'hms-medicationdispense'],
    ['Invoice', 'hms-invoice'],
    ['ChargeItem', 'hms-chargeitem'],
    ['ChargeItemDefinition', 'hms-chargeitemdefinition'],
    ['DiagnosticReport', 'hms-diagnosticreport'],
    ['Observation', 'hms-observation'],
  ];
  for (const [type, id] of all) set.require(type, { url: `${SD}/${id}` });
  // Only the HMS kinds of these general-purpose types: dispensaries and stock items.
  set.require('Location', {
    url: `${SD}/hms-dispensary`,
    appliesTo: (r) => hasCoding(r, 'type', 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', ['PHARM', 'OUTPHARM']),
  });
  set.require('Basic', {
    url: `${SD}/hms-stock-item`,
    appliesTo: (r) => hasCoding(r, 'code', `${HMS_BASE}/CodeSystem/hms-basic-type`, ['stock-item']),
  });
}

/** The JSON conformance resources of one package folder; throws with a clear message when it is not one. */
export function readPackageFolder(dir: string): { name: string; version: string; resources: Definition[] } {
  let root = path.resolve(dir);
  if (!fs.existsSync(path.join(root, 'package.json')) && fs.existsSync(path.join(root, 'package', 'package.json'))) root = path.join(root, 'package');
  const manifest = path.join(root, 'package.json');
  if (!fs.existsSync(manifest)) throw new Error(`${dir} is not an IG package folder (no package.json)`);
  const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
  const resources: Definition[] = [];
  for (const f of fs.readdirSync(root).sort()) {
    if (!f.endsWith('.json') || f === 'package.json' || f.startsWith('.')) continue;
    let json: unknown;
    try {
      json = parseFhirJson(fs.readFileSync(path.join(root, f), 'utf8'));
    } catch (e) {
      throw new Error(`${path.join(root, f)} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (isJsonObject(json) && ['StructureDefinition', 'ValueSet', 'CodeSystem'].includes(String(json.resourceType)))
      resources.push(json as Definition);
  }
  return { name: pkg.name ?? path.basename(root), version: pkg.version ?? '', resources };
}

/** The repository's profiles/ folder (from server/ in development, dist/server/ when built). */
export function hmsProfilesDir(): string {
  for (const c of [path.resolve(__dirname, '..', 'profiles'), path.resolve(__dirname, '..', '..', 'profiles')]) {
    if (fs.existsSync(path.join(c, 'package.json'))) return c;
  }
  throw new Error('profiles/ (the HMS profiles package) was not found beside the server');
}

const cache = new Map<string, { set: ProfileSet; problems: string[] }>();

/** The profiles and terminology of this configuration (read once per process and configuration). */
export function loadProfileSet(config: Pick<Config, 'igDirs' | 'requireProfiles'>): { set: ProfileSet; problems: string[] } {
  const key = JSON.stringify([config.igDirs, config.requireProfiles]);
  const hit = cache.get(key);
  if (hit) return hit;
  const set = new ProfileSet();
  const problems: string[] = [];
  for (const dir of [hmsProfilesDir(), ...config.igDirs]) {
    const pkg = readPackageFolder(dir);
    problems.push(...set.addAll(pkg.resources, `${pkg.name}${pkg.version ? `#${pkg.version}` : ''}`));
  }
  if (config.requireProfiles === 'hms') requireHmsProfiles(set);
  const out = { set, problems };
  cache.set(key, out);
  return out;
}
