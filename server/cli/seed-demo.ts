/**
 * `arogya seed-demo` (issue 13 part 5): writes the demo hospital network of demo-data.ts through the write engine,
 * then the SMART users and the demo app, and prints their credentials.
 *
 * Who writes: the CLI acts as the client `arogya-seed-demo` (a `client` actor, not the `system` one), so the HMS
 * workflows react to its writes exactly as they react to a hospital's: concluding a visit (PUT Encounter
 * `finished`) prepares its dispenses and issues its bill in the same transaction, and handing medicines over
 * (PUT MedicationDispense `completed`) takes them off the shelf. Writes by the system caller (`arogya import`) set
 * no workflow off, which would leave a demo without bills.
 *
 * Bills of past visits: the workflow dates a bill when it issues it (Invoice.date and ChargeItem.enteredDate are
 * "now", HMS-DOMAIN.md §5.1 A2/A4), and the seed concludes two months of visits in one sitting. In the demo's story
 * each of those visits was billed when it ended, so the seed then corrects the dates of a visit's bill to the
 * visit's end (`dateBillAtVisitEnd`), as a client would correct a record: a PUT with If-Match, and a note on each
 * corrected resource saying when it was really issued. The workflow itself never backdates.
 *
 * Idempotent: every resource has a fixed id; a resource that exists is never written again (a visit is written in
 * one transaction, its conclusion, bill dates and handover only when the stored visit has not reached them), users
 * and the app are created when missing. A second run writes no new version.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ClientStore } from '../auth/clients';
import { DuplicateUserError, UserStore } from '../auth/users';
import { authBaseOf, type Config } from '../config';
import type { Pool } from '../database/pool';
import { recordSubscriptionOwners } from '../events/subscriptions/owner';
import { type JsonObject, type JsonValue, parseStoredJson } from '../fhir/json';
import { OperationOutcomeError } from '../fhir/outcome';
import { loadProfileSet } from '../profiles-load';
import { type Caller, SYSTEM_CALLER } from '../repository/caller';
import { Repository } from '../repository/repository';
import { TransactionProcessor } from '../repository/transaction';
import { workflowHandlers } from '../workflows/handlers';
import { workflowHook } from '../workflows/runner';
import { demoNetwork, type Json, type VisitSpec } from './demo-data';

/** The seed's caller: an OAuth client's writes, so the HMS workflows run (see the module comment). */
export const SEED_CALLER: Caller = Object.freeze({ actor: Object.freeze({ kind: 'client' as const, clientId: 'arogya-seed-demo' }) });

export const DEMO_APP_ID = 'arogya-demo-app';
export const DEMO_APP_REDIRECTS = ['http://localhost:3000/callback', 'http://127.0.0.1:3000/callback'];
export const CREDENTIALS_FILE = 'demo-credentials.json';

export interface DemoUser {
  username: string;
  fhirUser: string;
  /** What the user is, in words (no patient data). */
  about: string;
  /** Known when this data dir created it (or kept it); undefined when the user was made elsewhere. */
  password?: string;
}

export interface SeedSummary {
  written: number;
  present: number;
  visits: number;
  concluded: number;
  handedOver: number;
  app: { clientId: string; redirectUris: string[]; created: boolean };
  users: (DemoUser & { created: boolean })[];
  credentialsFile: string;
  workflows: boolean;
}

const DEMO_USERS: Omit<DemoUser, 'password'>[] = [
  { username: 'dr.kavya.menon', fhirUser: 'Practitioner/demo-doc-01', about: 'doctor (internal medicine), Bengaluru and Hyderabad' },
  { username: 'dr.vikram.kulkarni', fhirUser: 'Practitioner/demo-doc-04', about: 'doctor (cardiology), Pune' },
  { username: 'patient.demo-pat-001', fhirUser: 'Patient/demo-pat-001', about: 'patient (sees their own record)' },
];

export interface SeedOptions {
  pool: Pool;
  config: Config;
  /** The day the visits are dated from (default now). */
  today?: Date;
  /** Progress lines (stderr in the CLI). */
  progress?: (line: string) => void;
}

export async function seedDemo(opts: SeedOptions): Promise<SeedSummary> {
  const { pool, config } = opts;
  const progress = opts.progress ?? (() => undefined);
  const repo = new Repository(pool, {
    referentialIntegrity: config.referentialIntegrity,
    profiles: loadProfileSet(config).set,
    baseUrl: config.baseUrl,
    timeZone: config.timeZone,
    afterWrite: [recordSubscriptionOwners],
    outbox: true,
    subscriptionAllow: config.subscriptionAllow,
    uniqueIdentifiers: config.uniqueIdentifiers,
  });
  if (config.workflows) repo.engine.afterWrite.push(workflowHook(repo, workflowHandlers(config)));
  const tx = new TransactionProcessor(repo);
  const network = demoNetwork(opts.today ?? new Date(), config.timeZone);
  const summary: SeedSummary = {
    written: 0,
    present: 0,
    visits: network.visits.length,
    concluded: 0,
    handedOver: 0,
    app: { clientId: DEMO_APP_ID, redirectUris: DEMO_APP_REDIRECTS, created: false },
    users: [],
    credentialsFile: path.join(config.dataDir, CREDENTIALS_FILE),
    workflows: config.workflows,
  };

  const stored = async (resourceType: string, id: string): Promise<JsonObject | undefined> => {
    try {
      const v = await repo.read(SYSTEM_CALLER, resourceType, id);
      return v.content === undefined ? undefined : parseStoredJson(v.content);
    } catch (e) {
      if (e instanceof OperationOutcomeError && e.status === 404) return undefined;
      throw e;
    }
  };
  /** PUTs (update-as-create with the fixed id) the resources not stored yet, in one transaction per 100. */
  const ensure = async (resources: Json[]): Promise<void> => {
    const missing: Json[] = [];
    for (const r of resources) {
      if (await stored(r.resourceType, r.id)) summary.present++;
      else missing.push(r);
    }
    for (let i = 0; i < missing.length; i += 100) {
      const chunk = missing.slice(i, i + 100);
      await tx.process(SEED_CALLER, {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: chunk.map((r) => ({
          fullUrl: `${config.baseUrl}/${r.resourceType}/${r.id}`,
          resource: r,
          request: { method: 'PUT', url: `${r.resourceType}/${r.id}` },
        })),
      });
      summary.written += chunk.length;
    }
  };

  const labels = ['hospitals and dispensaries', 'medicines, stock and prices', 'doctors and fees', 'patients'];
  for (const [i, group] of network.reference.entries()) {
    await ensure(group);
    progress(`${labels[i]}: ${group.length}`);
  }

  // Visits in the order they happened (stock is taken first come, first served).
  const visits = [...network.visits].sort((a, b) => startOf(a).localeCompare(startOf(b)) || a.id.localeCompare(b.id));
  let done = 0;
  for (const visit of visits) {
    await writeVisit(visit);
    if (++done % 50 === 0 || done === visits.length) progress(`visits: ${done}/${visits.length}`);
  }

  async function writeVisit(visit: VisitSpec): Promise<void> {
    const encounter = await stored('Encounter', visit.id);
    if (encounter) summary.present += visit.resources.length;
    else await ensureVisit(visit.resources);
    const status = encounter?.status ?? 'in-progress';
    if (visit.concluded && status === 'in-progress') {
      // The doctor concludes the visit: the workflows prepare its dispenses and issue its bill in this write.
      await repo.update(SEED_CALLER, 'Encounter', visit.id, visit.concluded);
      summary.written++;
    }
    if (visit.concluded) summary.concluded++;
    if (visit.concluded && config.workflows) await dateBillAtVisitEnd(visit.id, visit.concluded.period.end as string);
    if (visit.handedOver && config.workflows) {
      // The pharmacist hands the medicines over: dispenses still in preparation become completed.
      const dispenses = await search(repo, 'MedicationDispense', { context: `Encounter/${visit.id}`, status: 'preparation' });
      for (const d of dispenses) {
        const when = visit.concluded!.period.end as string;
        await repo.update(SEED_CALLER, 'MedicationDispense', String(d.id), { ...d, status: 'completed', whenPrepared: when, whenHandedOver: when });
        summary.written++;
      }
      summary.handedOver++;
    }
  }

  /**
   * A visit that ended before now was concluded after the fact: its invoices (every one on the visit's Account) and
   * ChargeItems dated later than the visit's end are dated at its end, in one transaction of If-Match PUTs, each with
   * a note. A visit still to end (today's queue, later today) keeps the date of its bill.
   */
  async function dateBillAtVisitEnd(visitId: string, end: string): Promise<void> {
    const ended = Date.parse(end);
    if (!(ended < Date.now())) return;
    const later = (when: unknown) => typeof when === 'string' && Date.parse(when) > ended;
    const invoices = (await search(repo, 'Invoice', { 'account:Account.identifier': `${SID}/encounter-account|${visitId}` })).filter((i) =>
      later(i.date),
    );
    if (invoices.length === 0) return;
    const items = (await search(repo, 'ChargeItem', { context: `Encounter/${visitId}` })).filter((c) => later(c.enteredDate));
    const corrected: JsonObject[] = [
      ...invoices.map((i) => ({ ...i, date: end, note: [...asList(i.note), correctionNote(i.date as string)] })),
      ...items.map((c) => ({ ...c, enteredDate: end, note: [...asList(c.note), correctionNote(c.enteredDate as string)] })),
    ];
    await tx.process(SEED_CALLER, {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: corrected.map((r) => ({
        fullUrl: `${config.baseUrl}/${r.resourceType}/${r.id}`,
        resource: r,
        request: { method: 'PUT', url: `${r.resourceType}/${r.id}`, ifMatch: `W/"${(r.meta as JsonObject).versionId}"` },
      })),
    });
    summary.written += corrected.length;
  }

  /** A visit's first write: all its resources in one transaction (so "the Encounter exists" means "all of it"). */
  async function ensureVisit(resources: Json[]): Promise<void> {
    await tx.process(SEED_CALLER, {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: resources.map((r) => ({
        fullUrl: `${config.baseUrl}/${r.resourceType}/${r.id}`,
        resource: r,
        request: { method: 'PUT', url: `${r.resourceType}/${r.id}` },
      })),
    });
    summary.written += resources.length;
  }

  await seedAuth(pool, config, summary);
  return summary;
}

const startOf = (v: VisitSpec): string => (v.resources[0].period.start as string) ?? '';
const SID = 'https://arogya.dev/fhir/sid';
const asList = (v: JsonValue | undefined): JsonValue[] => (Array.isArray(v) ? v : []);
const correctionNote = (issued: string): JsonObject => ({
  text: `Demo history: dated at the end of the visit, when it was billed in the demo's story; the demo seed (arogya seed-demo) issued it at ${issued}.`,
  time: new Date().toISOString(),
});

async function search(repo: Repository, resourceType: string, params: Record<string, string>): Promise<JsonObject[]> {
  const criteria = await repo.criteria(resourceType, new URLSearchParams(params), 'the demo seed');
  const page = await repo.searchResources(SYSTEM_CALLER, { types: [resourceType], criteria, sort: [], count: 100, include: [], total: 'none' });
  return page.matches.map((m) => parseStoredJson(m.content));
}

interface StoredCredentials {
  users: Record<string, string>;
}

/** The demo users and the demo app; passwords are generated once and kept in the data dir (mode 0600). */
async function seedAuth(pool: Pool, config: Config, summary: SeedSummary): Promise<void> {
  const file = summary.credentialsFile;
  let kept: StoredCredentials = { users: {} };
  try {
    kept = JSON.parse(fs.readFileSync(file, 'utf8')) as StoredCredentials;
  } catch {
    // none yet (or unreadable): new passwords are made for users still to be created
  }
  const users = new UserStore(pool);
  let changed = false;
  for (const u of DEMO_USERS) {
    let password = kept.users?.[u.username];
    const fresh = password ?? crypto.randomBytes(12).toString('base64url');
    try {
      await users.create({ username: u.username, fhirUser: u.fhirUser, password: fresh });
      if (!password) {
        password = fresh;
        kept.users = { ...kept.users, [u.username]: fresh };
        changed = true;
      }
      summary.users.push({ ...u, password, created: true });
    } catch (e) {
      if (!(e instanceof DuplicateUserError)) throw e;
      summary.users.push({ ...u, password, created: false });
    }
  }
  if (changed) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(kept, null, 2)}\n`, { mode: 0o600 });
    fs.chmodSync(file, 0o600);
  }
  const clients = new ClientStore(pool, `${authBaseOf(config.baseUrl)}/token`);
  if (!(await clients.find(DEMO_APP_ID))) {
    await clients.create({
      clientId: DEMO_APP_ID,
      clientName: 'Arogya demo app',
      authMethod: 'none',
      redirectUris: DEMO_APP_REDIRECTS,
      grantTypes: ['authorization_code', 'refresh_token'],
      admin: false,
    });
    summary.app.created = true;
  }
}

/** What `arogya seed-demo` prints at the end (stdout; no patient data, only ids). */
export function describeSeed(summary: SeedSummary, config: Config): string {
  const auth = authBaseOf(config.baseUrl);
  const lines = [
    '',
    `Arogya demo network: 3 hospitals, 10 doctors, 200 patients, ${summary.visits} OPD visits (${summary.concluded} concluded, ${summary.handedOver} with medicines handed over).`,
    `  resources written now: ${summary.written}; already present: ${summary.present}.`,
  ];
  if (!summary.workflows) lines.push('  AROGYA_WORKFLOWS=off: concluded visits have no dispenses and no bills.');
  lines.push(
    '',
    'Demo SMART app (public client, authorization code + PKCE):',
    `  client_id:     ${summary.app.clientId}`,
    `  redirect_uris: ${summary.app.redirectUris.join(' ')}`,
    `  authorize:     ${auth}/authorize   token: ${auth}/token   aud: ${config.baseUrl}`,
    '',
    'Users (sign in at the authorize page):',
  );
  for (const u of summary.users) {
    const pw = u.password ?? '(created before, elsewhere: password not known here)';
    lines.push(`  ${u.username.padEnd(22)} password: ${pw.padEnd(18)} ${u.fhirUser} — ${u.about}`);
  }
  if (config.auth === 'smart') lines.push('', `Passwords are kept in ${summary.credentialsFile} (mode 0600).`);
  else lines.push('', 'AROGYA_AUTH=off: the API needs no token; the users and the app are for a server with SMART on.');
  lines.push('');
  return lines.join('\n');
}
