/**
 * Scopes in plain words for the consent page: what the app will be able to do, said to a person, not a developer.
 * The scope itself is shown beside the words for those who want it.
 */
import { parseResourceScope, type Permission, type ScopeGrant } from '../scopes';

const OTHER: Record<string, string> = {
  openid: 'Confirm who you are',
  fhirUser: 'Know which user record is yours',
  profile: 'Know which user record is yours',
  launch: 'Receive the patient and encounter open in your health record system',
  'launch/patient': 'Know which patient you choose',
  'launch/encounter': 'Know which encounter you choose',
  offline_access: 'Keep its access after you close it, until the access is revoked',
  online_access: 'Keep its access while you use it',
};

const VERBS: Record<Permission, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/** `MedicationRequest` → `medication requests`. */
function typeWords(resourceType: string): string {
  if (resourceType === '*') return 'all kinds of health records';
  const words = resourceType.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return words.endsWith('s') ? `${words} records` : `${words}s`;
}

function listWords(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function grantWords(g: ScopeGrant): string {
  const verbs = (['r', 's', 'c', 'u', 'd'] as Permission[]).filter((p) => g.permissions.has(p)).map((p) => VERBS[p]);
  const whose = g.context === 'patient' ? ` of the patient` : g.context === 'user' ? ' that you may see' : ' of every patient (system access)';
  const filter = g.query ? ` (only those matching ${g.query.replace(/&/g, ' and ')})` : '';
  const sentence = `${listWords(verbs)} ${typeWords(g.resourceType)}${whose}${filter}`;
  return sentence.charAt(0).toUpperCase() + sentence.slice(1);
}

/** One scope in words. */
export function scopeWords(scope: string): string {
  const grant = parseResourceScope(scope);
  if (grant) return grantWords(grant);
  return OTHER[scope] ?? `Use the permission “${scope}”`;
}
