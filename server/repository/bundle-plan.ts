/**
 * One pass of a batch or transaction Bundle inside one PostgreSQL transaction, set-based
 * (https://hl7.org/fhir/R4/http.html#trules). Every step handles all entries at once, so a bundle costs a handful of
 * statements whatever its size:
 *
 *  1. criteria   parse every conditional criterion (ifNoneExist, `PUT|PATCH|DELETE [type]?…`, conditional
 *                references `Type?…` inside resources) — no I/O
 *  2. lock       one statement: transaction-scoped advisory locks on the normalised criteria, sorted (exclusive
 *                for conditional writes, shared for conditional references), so identical conditional writes
 *                serialise and concurrent bundles never deadlock on them
 *  3. resolve    one statement per 100 distinct criteria (Repository.findIdsMany)
 *  4. identify   ids for every entry (new UUIDs for creates; matches for conditional ones; two creates with the
 *                same criteria become one), fullUrl → `Type/id`, overlapping identities refused
 *  5. rewrite    `urn:uuid:`/`urn:oid:`/absolute fullUrls and conditional references replaced in every link
 *                (bundle-links.ts), then validation (Repository.prepare) and planning (Repository.planVersion)
 *  6. current    one statement each for the rows updated, patched, deleted or matched: locked in id order, with
 *                If-Match checks, PATCH applied, and unchanged updates detected
 *  7. integrity  one statement for every reference target outside the bundle (FOR KEY SHARE), one for referrers
 *                of deleted resources; targets created in the bundle count, targets deleted in it do not
 *  8. write      ONE call of the write engine's commit point (WriteEngine.commit) for every version of every entry
 *  9. read       GET/HEAD entries, last, inside the same transaction (so they see the writes)
 *
 * The processing order of the spec (DELETE, POST, PUT/PATCH, GET) shows in the semantics: a conditional match
 * that this bundle deletes does not count, reads run last.
 *
 * Modes: 'transaction' throws at the first failing entry (the caller rolls back). 'batch' records the failure on
 * the entry and carries on with the others; an entry that collides with an earlier one of the same pass (same
 * identity or criteria) is deferred to the next pass, so the outcome is that of processing them one by one.
 * 'single' is one REST interaction (create, update, patch, delete and their conditional forms) as a one-entry
 * plan: it throws like a transaction, but its errors are not retold as a Bundle entry's, messages name the HTTP
 * headers (If-Match, If-None-Exist), and its references are taken as written (fullUrls and conditional
 * references are Bundle features). 'import' is a batch of bulk $import's updates by id: like 'single' (the job
 * redoes a failed batch resource by resource), but its references are checked once the whole job is written
 * (jobs/import.ts), so the integrity step is left out.
 *
 * The WriteEngine (write-engine.ts) runs plans; every version a plan writes goes through its one commit point,
 * WriteEngine.commit, with the plan's Caller.
 */
import { newResourceId } from './ids';
import type { Pool, PoolClient } from '../database/pool';
import type { Caller } from './caller';
import { DeadlineExceeded, type Deadline } from './deadline';
import {
  outsideAccess,
  referenceable,
  requirePermission,
  SEE,
  unresolvedWhy,
  unrestrictedFor,
  visible,
  type AccessPermission,
} from './search/compile/access';
import { SqlBuilder } from './search/compile/sql';
import { parseConditionalReference, rewriteLinks } from '../fhir/bundle-links';
import type { EntryRequest } from '../fhir/bundle-request';
import { isJsonObject, parseFhirJson, parseStoredJson, type JsonObject, type JsonValue } from '../fhir/json';
import { OperationOutcomeError, badRequest, gone, issue, notFound, preconditionFailed, type Issue, type OperationOutcome } from '../fhir/outcome';
import { parseRelativeReference } from '../fhir/references';
import { canonicalSystem, normaliseIdentifierValue } from '../fhir/search/normalise';
import { applyFhirPathPatch } from '../fhir/patch/fhirPathPatch';
import { applyJsonPatch } from '../fhir/patch/jsonPatch';
import { assertId, parseVersionTag } from './identity';
import { registryKeys, type RegistryKey } from '../fhir/registries';
import type { Commit, StoredVersion, WriteOutcome, WritePlanner } from './versions';
import { criteriaKey, type Criterion } from '../fhir/search/criteria';
import { parseCriteria } from '../fhir/search/parse';
import { INSTANT_SQL, type VersionWrite } from './writes';
import { checkStockItemWrite } from '../workflows/stock';

export type PreferReturn = 'minimal' | 'representation' | 'OperationOutcome';

/** The outcome of one entry, as Bundle.entry.response (and resource) of the response bundle. */
export interface EntryResult {
  status: string;
  location?: string;
  etag?: string;
  lastModified?: string;
  /** The resource the entry acted on. */
  target?: { type: string; id: string };
  /** Stored JSON text of the resource (Prefer: return=representation). */
  resource?: string;
  outcome?: OperationOutcome;
  /** What happened, for summaries (import CLI). */
  effect: WriteOutcome | 'read' | 'failed';
}

export interface ReadRequest {
  index: number;
  method: 'GET' | 'HEAD';
  url: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
}

/** Runs a GET/HEAD entry on the given connection (the REST layer owns reads: search bundles, 304s, …). */
export type ReadHandler = (client: Pool | PoolClient, request: ReadRequest) => Promise<EntryResult>;

export type PlanMode = 'transaction' | 'batch' | 'single' | 'import';

/** What a plan is given: a Bundle entry, or a single REST interaction as one (whose patch comes as a function). */
export type PlanRequest = EntryRequest & { patch?: (current: JsonObject) => unknown };

/** How messages name a request's parts: HTTP headers for a single interaction, Bundle.entry.request elements for entries. */
const LABELS = {
  single: { ifMatch: 'If-Match', ifNoneExist: 'If-None-Exist', url: 'the URL' },
  entry: { ifMatch: 'ifMatch', ifNoneExist: 'ifNoneExist', url: 'request.url' },
};

/** Most resources one conditional delete may remove (a safety net against criteria that match everything). */
export const MAX_CONDITIONAL_DELETE = 1000;
/** Distinct conditional criteria (advisory locks) one PostgreSQL transaction may hold. */
export const MAX_CRITERIA = 4000;
const MAX_LISTED_REFERRERS = 20;
/** A referrer the caller may not see, in a 409's list. */
const HIDDEN_REFERRER = '';

/** Longest stretch (ms) of CPU work on a bundle's entries before other requests get a turn. */
const SLICE_MS = 10;

interface Current {
  versionId: number;
  deleted: boolean;
  lastUpdated: string;
  content: string | null;
  same: boolean;
  /** The caller may see the row (read or search); false: it is answered as unknown (404). */
  readable: boolean;
  /** The caller may do this step's write to it (update, patch or delete); false: 403. */
  allowed: boolean;
}

/** One entry's state through the pass. */
export interface Work {
  req: PlanRequest;
  /** Resolved identity (for conditional deletes: the first of `deleteIds`). */
  id?: string;
  deleteIds?: string[];
  /** Normalised criteria of a conditional create/update/patch/delete. */
  key?: string;
  criteria?: Criterion[];
  /** ids matching `criteria` (DB), once resolved. */
  matches?: string[];
  /** A conditional create with the same criteria as an earlier entry: resolves to that entry's resource. */
  aliasOf?: Work;
  /** The planned effect: created, updated, … */
  effect?: WriteOutcome;
  warnings: Issue[];
  writes: VersionWrite[];
  /** Stored version of a resource that is not written (existing, unchanged). */
  stored?: StoredVersion;
  written?: StoredVersion[];
  /** The result of a GET/HEAD entry. */
  readResult?: EntryResult;
  error?: OperationOutcomeError;
  /** Batch: collides with an earlier entry of this pass; retried in the next pass. */
  deferred?: boolean;
  /** A create's or update's resource once validated (step 5a), until its version is planned (5b). */
  prepared?: JsonObject;
}

/** An OperationOutcomeError retold for a bundle entry: diagnostics name the entry, expressions point into it. */
export function entryError(req: { index: number; method?: string; url?: string }, e: OperationOutcomeError, type?: string): OperationOutcomeError {
  const prefix = `Bundle.entry[${req.index}]`;
  const what = req.method ? ` (${req.method} ${req.url ?? ''})` : '';
  const issues = e.issues.map((i): Issue => {
    const out: Issue = { ...i, diagnostics: `${prefix}${what}: ${i.diagnostics}` };
    if (i.expression) {
      out.expression = i.expression.map((x) => {
        if (type && (x === type || x.startsWith(`${type}.`) || x.startsWith(`${type}[`))) return `${prefix}.resource${x.slice(type.length)}`;
        return x.startsWith('Bundle.') ? x : `${prefix}.resource.${x}`;
      });
    }
    return out;
  });
  return new OperationOutcomeError(e.status, issues, e.headers);
}

function typeOf(w: Work): string | undefined {
  return w.req.op === 'read' ? undefined : w.req.type;
}

/** `reference` strings anywhere in a JSON value (patch documents, which are not resources of the written type). */
function untypedReferences(value: JsonValue, out: string[]): void {
  if (Array.isArray(value)) {
    for (const v of value) untypedReferences(v, out);
  } else if (isJsonObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else if (typeof v === 'object' && v !== null) untypedReferences(v, out);
    }
  }
}

/** The patch function of a PATCH entry: a Binary holding JSON Patch, or a FHIRPath Patch Parameters. */
function patchOf(resource: JsonObject): { apply: (current: JsonObject) => JsonObject; document: JsonValue } {
  if (resource.resourceType === 'Binary') {
    const contentType = String(resource.contentType ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase();
    if (contentType !== 'application/json-patch+json') {
      throw badRequest(`A PATCH entry's Binary must have contentType application/json-patch+json, got '${contentType}'`);
    }
    if (typeof resource.data !== 'string') throw badRequest("A PATCH entry's Binary needs the JSON Patch document base64-encoded in data");
    const document = parseFhirJson(Buffer.from(resource.data, 'base64').toString('utf8'));
    return { apply: (current) => applyJsonPatch(current, document), document };
  }
  if (resource.resourceType === 'Parameters') return { apply: (current) => applyFhirPathPatch(current, resource), document: resource };
  throw badRequest("A PATCH entry's resource must be a Binary (JSON Patch) or a Parameters (FHIRPath Patch)");
}

/** Token criteria on `identifier` (and `_id`) can be evaluated on a resource in memory; undefined = cannot tell. */
function matchesInMemory(resource: JsonObject, id: string, criteria: Criterion[]): boolean | undefined {
  for (const c of criteria) {
    if (c.kind === 'id') {
      if (!c.ids.includes(id)) return false;
    } else if (c.kind === 'token' && c.code === 'identifier' && !c.not) {
      // Compared in the indexed form the search layer gives criteria (canonical system, bare national digits).
      const identifiers = (Array.isArray(resource.identifier) ? resource.identifier : resource.identifier ? [resource.identifier] : []).flatMap(
        (i) => {
          if (!isJsonObject(i) || typeof i.value !== 'string') return [];
          const system = typeof i.system === 'string' ? canonicalSystem(i.system) : null;
          return [{ system, value: normaliseIdentifierValue(system, i.value) }];
        },
      );
      const hit = c.values.some((v) =>
        identifiers.some((i) => (v.code === null || i.value === v.code) && (v.system === undefined || i.system === v.system)),
      );
      if (!hit) return false;
    } else return undefined;
  }
  return true;
}

const key = (type: string, id: string): string => `${type}/${id}`;

/** The SMART permission each write needs (a PUT that creates needs `c` for the row it creates, step 8). */
const WRITE_PERMISSION: Record<Exclude<PlanRequest['op'], 'read'>, AccessPermission> = { create: 'c', update: 'u', patch: 'u', delete: 'd' };

/** The current version of a resource the plan leaves as it is (unchanged update, patch baseline). */
function currentVersion(resourceType: string, id: string, cur: Current): StoredVersion {
  return { resourceType, id, versionId: cur.versionId, lastUpdated: cur.lastUpdated, deleted: false, content: cur.content ?? undefined };
}

/** The holders of the (system $1[i], value $2[i]) claims in `business_claim`. */
const CLAIM_HOLDERS = `SELECT c.system, c.value, c.resource_type, c.resource_id
  FROM unnest($1::text[], $2::text[]) AS k(system, value) JOIN business_claim c ON c.value = k.value AND c.system = k.system`;

export class BundlePlan {
  /** criteria key → shared (conditional reference only) or exclusive (a conditional write). */
  private readonly locks = new Map<string, boolean>();
  /** criteria key → parsed query to resolve, and its result. */
  private readonly queries = new Map<string, { type: string; criteria: Criterion[]; limit: number; ids?: string[] }>();
  /** conditional reference text → criteria key */
  private readonly refKeys = new Map<string, string>();
  /** fullUrl → `Type/id` */
  private readonly fullUrls = new Map<string, string>();
  /** `Type/id` deleted by this bundle */
  private readonly deleted = new Set<string>();
  /** conditional reference text → its target (or why it has none) */
  private readonly refTargets = new Map<string, string | OperationOutcomeError>();
  /** Entries that create or update a resource (candidates for conditional references), once identities are known. */
  private writtenByBundle?: Work[];
  private readonly opts: WritePlanner['options'];
  private readonly labels: (typeof LABELS)['single'];
  /** 'single' and 'import': errors thrown as they are, references taken as written. */
  private readonly direct: boolean;
  /** The connection of the transaction the plan runs in (set by plan() and execute()). */
  private connection?: PoolClient;
  /** When the current slice of CPU work began (eachActive). */
  private sliceStart = performance.now();

  /** The entries of this pass, in bundle order, each with its fresh state. */
  readonly works: Work[];

  constructor(
    private readonly repo: WritePlanner,
    /** Step 8: the write engine's commit point. */
    private readonly commit: Commit,
    requests: PlanRequest[],
    private readonly mode: PlanMode,
    private readonly prefer: PreferReturn,
    /** Who acts: handed with every written version to the commit point (WriteEngine.commit). */
    readonly caller: Caller,
    private readonly read?: ReadHandler,
    /** The request's deadline (deadline.ts): checked between slices and steps, and capping each statement. */
    private readonly deadline?: Deadline,
  ) {
    this.opts = repo.options;
    this.labels = mode === 'single' ? LABELS.single : LABELS.entry;
    this.direct = mode === 'single' || mode === 'import';
    this.works = requests.map((req) => ({ req, warnings: [], writes: [] }));
  }

  private get client(): PoolClient {
    if (!this.connection) throw new Error("BundlePlan: this step needs the transaction's connection");
    return this.connection;
  }

  private active(): Work[] {
    return this.works.filter((w) => !w.error && !w.deferred);
  }

  private fail(w: Work, e: unknown): void {
    // the deadline stops the plan, not one entry (transaction.ts answers every unfinished entry)
    if (!(e instanceof OperationOutcomeError) || e instanceof DeadlineExceeded || this.direct) throw e;
    const err = entryError(w.req, e, typeOf(w));
    if (this.mode === 'transaction') throw err;
    w.error = err;
  }

  /**
   * Runs a CPU-heavy step (parsing criteria, validation and extraction) over every active entry, yielding to the
   * event loop between slices: a bundle of thousands of entries must not stall the process's other requests
   * (`/healthz` included) for seconds. The deadline is checked before each entry's step (one multi-MB entry's
   * validation can take seconds on its own, within one slice).
   */
  private async eachActive(fn: (w: Work) => void): Promise<void> {
    for (const w of this.active()) {
      if (performance.now() - this.sliceStart > SLICE_MS) await this.yield();
      this.step();
      this.guard(w, () => fn(w));
    }
    if (performance.now() - this.sliceStart > SLICE_MS) await this.yield();
  }

  /** Throws DeadlineExceeded once the request's deadline has passed: called before each expensive step. */
  private readonly step = (): void => this.deadline?.check();

  /** Lets other requests have the event loop (the slice's clock runs across steps), and checks the deadline. */
  private async yield(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.sliceStart = performance.now();
    this.deadline?.check();
  }

  private guard(w: Work, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.fail(w, e);
    }
  }

  /** Every step, inside the transaction of `client`. */
  async run(client: PoolClient): Promise<void> {
    if (this.deadline) {
      this.deadline.check();
      // every statement of the transaction ends by the deadline (a cancelled one rolls the whole of it back)
      await client.query(`SET LOCAL statement_timeout = ${this.deadline.statementTimeout()}`);
    }
    await this.plan(client);
    await this.execute(client);
  }

  /**
   * Steps 1–5: what each entry does, validated and planned. Only conditional criteria need the database here, so
   * a plan without them (a plain create) is planned without a connection (`client` undefined).
   */
  async plan(client?: PoolClient): Promise<void> {
    this.connection = client;
    // The audit log is the server's own record (audit/): no client creates, changes or deletes an AuditEvent.
    await this.eachActive((w) => {
      if (w.req.op !== 'read' && w.req.type === 'AuditEvent') {
        throw new OperationOutcomeError(405, [
          issue('error', 'not-supported', 'AuditEvents are recorded by the server only: the audit log is append-only'),
        ]);
      }
    });
    await this.eachActive((w) => this.authorize(w));
    await this.eachActive((w) => this.criteria(w));
    await this.lock();
    await this.resolve();
    this.identify();
    await this.eachActive((w) => this.validate(w));
    await this.eachActive((w) => this.prepare(w));
  }

  /** Steps 6–9, inside the transaction of `client`. */
  async execute(client: PoolClient): Promise<void> {
    this.connection = client;
    const step = this.step;
    step();
    await this.current();
    step();
    await this.integrity();
    step();
    await this.claim();
    step();
    await this.write();
    step();
    await this.reads();
  }

  /** Whether the integrity step (7) has reference targets to check: else a planned create needs no database read. */
  get checksReferences(): boolean {
    return this.opts.referentialIntegrity && this.active().some((w) => w.writes.some((v) => v.links.length > 0));
  }

  /** Whether step 7b claims unique identifiers (in a transaction) for the plan's versions. */
  get claimsIdentifiers(): boolean {
    const rules = this.opts.uniqueIdentifiers ?? [];
    return rules.length > 0 && this.active().some((w) => w.writes.some((v) => rules.some((r) => r.resourceType === v.resourceType)));
  }

  /**
   * The plan's versions with the unique identifiers each claims (VersionWrite.claims), for a plain create sent to the
   * group commit instead of step 7b: its statement claims them, and fails (CLAIM_TAKEN) when one is held.
   */
  versionsClaiming(): VersionWrite[] {
    const rules = this.opts.uniqueIdentifiers ?? [];
    return this.versions().map((v) => {
      const keys = registryKeys(rules, v.resourceType, v.index.search_token);
      return keys.length ? { ...v, claims: keys.map((k) => ({ system: k.rule.system, value: k.value })) } : v;
    });
  }

  /** The versions the plan writes, in entry order: what step 8 hands to the commit point. */
  versions(): VersionWrite[] {
    return this.active().flatMap((w) => w.writes);
  }

  /** Records the stored versions of `versions()` (same order) on their entries. */
  settle(written: StoredVersion[]): void {
    let i = 0;
    for (const w of this.active()) {
      w.written = written.slice(i, i + w.writes.length);
      i += w.writes.length;
      // What the commit point's hooks noted on a written version (a workflow that could not act) is told to the client.
      for (const v of w.written) if (v.notes?.length) w.warnings = [...w.warnings, ...v.notes];
    }
  }

  // 1 ------------------------------------------------------------------------------------------------------------

  private parse(type: string, query: string, purpose: string): { criteria: Criterion[]; key: string } {
    const criteria = parseCriteria(type, new URLSearchParams(query), purpose, this.opts.timeZone, this.opts.baseUrl);
    if (criteria.length === 0) throw badRequest(`${purpose} '${type}?${query}' has no search criteria`);
    return { criteria, key: criteriaKey(type, criteria) };
  }

  private want(k: string, type: string, criteria: Criterion[], limit: number, exclusive: boolean): void {
    const q = this.queries.get(k);
    if (!q) this.queries.set(k, { type, criteria, limit });
    else q.limit = Math.max(q.limit, limit);
    this.locks.set(k, (this.locks.get(k) ?? false) || exclusive);
  }

  /**
   * Step 0, the type-level access check (DESIGN.md §1.1 errors): an entry whose interaction no rule of the
   * caller's access covers for its type is a 403 naming the scope it needs. Which resources it may touch is
   * checked on the rows themselves (steps 6 and 8).
   */
  private authorize(w: Work): void {
    const r = w.req;
    if (r.op === 'read' || !this.caller.access) return;
    requirePermission(this.caller.access, WRITE_PERMISSION[r.op], r.type);
  }

  private criteria(w: Work): void {
    const r = w.req;
    if (r.op === 'read') return;
    const conditional = r.op === 'create' ? r.ifNoneExist : r.criteria;
    if (conditional !== undefined) {
      const purpose = r.op === 'create' ? this.labels.ifNoneExist : `conditional ${r.op}`;
      const { criteria, key: k } = this.parse(r.type, conditional, purpose);
      w.criteria = criteria;
      w.key = k;
      this.want(k, r.type, criteria, r.op === 'delete' ? MAX_CONDITIONAL_DELETE + 1 : 2, true);
    }
    if (this.direct) return; // conditional references are a Bundle feature (rewrite)
    const refs: string[] = [];
    if (r.resource && r.op === 'patch') untypedReferences(patchOf(r.resource).document, refs);
    else if (r.resource) rewriteLinks(r.resource, (v, kind) => void (kind === 'reference' && refs.push(v)));
    for (const ref of refs) {
      const cond = parseConditionalReference(ref);
      if (!cond) continue;
      if (this.refKeys.has(ref)) continue;
      const { criteria, key: k } = this.parse(cond.type, cond.query, 'conditional reference');
      this.refKeys.set(ref, k);
      this.want(k, cond.type, criteria, 2, false);
    }
  }

  // 2 ------------------------------------------------------------------------------------------------------------

  private async lock(): Promise<void> {
    if (this.locks.size === 0) return;
    // Each lock takes a slot of PostgreSQL's shared lock table (max_locks_per_transaction × connections).
    if (this.locks.size > MAX_CRITERIA) {
      throw new OperationOutcomeError(400, [
        issue(
          'error',
          'too-costly',
          `The Bundle has ${this.locks.size} distinct conditional criteria; at most ${MAX_CRITERIA} fit in one transaction (split it, or send a batch)`,
        ),
      ]);
    }
    const keys = [...this.locks.keys()].sort();
    // unnest emits rows in array order, so the locks are taken in sorted order within one statement.
    await this.client.query(
      `SELECT CASE WHEN s THEN pg_advisory_xact_lock_shared(hashtextextended(k, 0)) ELSE pg_advisory_xact_lock(hashtextextended(k, 0)) END
         FROM unnest($1::text[], $2::bool[]) AS t(k, s)`,
      [keys, keys.map((k) => !this.locks.get(k))],
    );
  }

  // 3 ------------------------------------------------------------------------------------------------------------

  private async resolve(): Promise<void> {
    const list = [...this.queries.values()];
    if (list.length === 0) return;
    const ids = await this.repo.findIdsMany(
      this.client,
      list.map((q) => ({ resourceType: q.type, criteria: q.criteria, limit: q.limit })),
      // criteria match only what the caller may search: a conditional write never finds (or acts on) the rest
      this.caller.access,
    );
    list.forEach((q, i) => {
      q.ids = ids[i];
    });
  }

  // 4 ------------------------------------------------------------------------------------------------------------

  private identify(): void {
    const works = this.active();
    // Deletes first: what they delete is gone for the matches of every later step.
    for (const w of works) {
      if (w.req.op !== 'delete') continue;
      this.guard(w, () => {
        const r = w.req as Extract<EntryRequest, { op: 'delete' }>;
        if (r.id !== undefined) {
          assertId(r.id);
          w.deleteIds = [r.id];
        } else {
          const ids = this.queries.get(w.key!)!.ids!;
          if (ids.length > MAX_CONDITIONAL_DELETE) {
            throw new OperationOutcomeError(412, [
              issue('error', 'too-costly', `Conditional delete matches more than ${MAX_CONDITIONAL_DELETE} resources; narrow the criteria`),
            ]);
          }
          w.deleteIds = ids;
        }
        w.id = w.deleteIds[0];
        for (const id of w.deleteIds) this.deleted.add(key(r.type, id));
      });
    }
    const byCriteria = new Map<string, Work>();
    for (const w of works) {
      const r = w.req;
      if (w.error || r.op === 'read' || r.op === 'delete') continue;
      this.guard(w, () => {
        const matches = w.key ? this.queries.get(w.key)!.ids!.filter((id) => !this.deleted.has(key(r.type, id))) : undefined;
        w.matches = matches;
        if (r.op === 'create') {
          // (a single create's body is checked by Repository.prepare, in the words of its endpoint)
          if (this.mode !== 'single' && r.resource!.resourceType !== r.type) {
            throw badRequest(`The resource is a ${String(r.resource!.resourceType)}, but the entry creates a ${r.type}`, 'resourceType');
          }
          const first = w.key ? byCriteria.get(w.key) : undefined;
          if (first) {
            w.aliasOf = first; // two entries creating the same conditional resource: one resource
            return;
          }
          if (w.key) byCriteria.set(w.key, w);
          if (matches && matches.length > 1)
            throw preconditionFailed(`${this.labels.ifNoneExist} '${r.ifNoneExist}' matches more than one ${r.type}`, 'multiple-matches');
          if (matches && matches.length === 1) {
            w.id = matches[0];
            w.effect = 'existing';
          } else {
            w.id = newResourceId();
            w.effect = 'created';
          }
          return;
        }
        const bodyId = r.resource && typeof r.resource.id === 'string' ? r.resource.id : undefined;
        if (r.id !== undefined) {
          assertId(r.id);
          if (r.op === 'update') {
            if (r.resource!.id === undefined) throw badRequest('An update must carry the resource id in the body (http.html#update)', `${r.type}.id`);
            if (bodyId !== r.id)
              throw badRequest(`The resource id '${String(r.resource!.id)}' does not match the id '${r.id}' in ${this.labels.url}`, `${r.type}.id`);
          }
          w.id = r.id;
          return;
        }
        if (matches!.length > 1)
          throw preconditionFailed(`Conditional ${r.op} criteria '${r.criteria}' match more than one ${r.type}`, 'multiple-matches');
        if (r.op === 'patch') {
          if (matches!.length === 0) throw notFound(`No ${r.type} matches '${r.criteria}' (conditional patch)`);
          w.id = matches![0];
          return;
        }
        if (matches!.length === 1) {
          if (bodyId !== undefined && bodyId !== matches![0]) {
            throw badRequest(`The resource id '${bodyId}' differs from the id '${matches![0]}' of the matching ${r.type}`, `${r.type}.id`);
          }
          w.id = matches![0];
        } else {
          w.id = bodyId ?? newResourceId();
          assertId(w.id);
        }
      });
    }
    for (const w of works) {
      if (w.aliasOf) {
        if (w.aliasOf.error) {
          // Batch: the first of the pair failed; this one is tried on its own in the next pass.
          w.aliasOf = undefined;
          w.deferred = true;
        } else {
          w.id = w.aliasOf.id;
          w.effect = 'existing';
        }
      }
    }
    this.checkOverlaps();
    for (const w of this.active()) {
      const r = w.req;
      if (r.op === 'read' || !r.fullUrl || w.id === undefined || r.op === 'delete') continue;
      this.guard(w, () => {
        const target = key(r.type, w.id!);
        const prev = this.fullUrls.get(r.fullUrl!);
        if (prev !== undefined && prev !== target) throw badRequest(`fullUrl '${r.fullUrl}' is used by more than one entry`);
        this.fullUrls.set(r.fullUrl!, target);
      });
    }
  }

  /** Two entries acting on one resource (http.html#trules: overlapping identities fail); a batch defers the later one. */
  private checkOverlaps(): void {
    const seen = new Map<string, Work>();
    for (const w of this.active()) {
      if (w.aliasOf || w.req.op === 'read') continue;
      const type = w.req.type;
      const ids = w.deleteIds ?? (w.id !== undefined ? [w.id] : []);
      for (const id of ids) {
        const k = key(type, id);
        const other = seen.get(k);
        if (!other) {
          seen.set(k, w);
          continue;
        }
        if (this.mode === 'batch') {
          w.deferred = true;
          break;
        }
        this.fail(w, badRequest(`${k} is also the target of Bundle.entry[${other.req.index}]: a transaction may act on each resource only once`));
      }
    }
  }

  // 5 ------------------------------------------------------------------------------------------------------------

  /** A conditional reference → `Type/id`: matches on the server (not deleted here) plus resources this bundle writes.
   * Resolved once per distinct reference text (bundles repeat the same practitioner or location hundreds of times). */
  private conditionalTarget(ref: string): string {
    let target = this.refTargets.get(ref);
    if (target === undefined) {
      target = this.resolveConditional(ref);
      this.refTargets.set(ref, target);
    }
    if (target instanceof OperationOutcomeError) throw target;
    return target;
  }

  private resolveConditional(ref: string): string | OperationOutcomeError {
    const k = this.refKeys.get(ref)!;
    const q = this.queries.get(k)!;
    const ids = new Set(q.ids!.filter((id) => !this.deleted.has(key(q.type, id))));
    this.writtenByBundle ??= this.active().filter((w) => {
      const r = w.req;
      return (r.op === 'create' || r.op === 'update') && w.id !== undefined && !w.aliasOf && w.effect !== 'existing';
    });
    for (const w of this.writtenByBundle) {
      const r = w.req as Extract<EntryRequest, { op: 'create' | 'update' }>;
      if (r.type === q.type && matchesInMemory(r.resource!, w.id!, q.criteria)) ids.add(w.id!);
    }
    if (ids.size === 0) return new OperationOutcomeError(422, [issue('error', 'not-found', `Conditional reference '${ref}' matches no resource`)]);
    if (ids.size > 1) return preconditionFailed(`Conditional reference '${ref}' matches more than one ${q.type}`, 'multiple-matches');
    return key(q.type, [...ids][0]);
  }

  /** Every link of a resource rewritten to server identities (fullUrls, conditional references). */
  private rewrite(w: Work, resource: JsonObject): JsonObject {
    if (this.direct) return resource;
    const fullUrl = w.req.fullUrl;
    // A relative reference inside an entry with an absolute RESTful fullUrl is relative to that fullUrl's base.
    const base = fullUrl && /^https?:\/\//.test(fullUrl) ? /^(.*)\/[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.exec(fullUrl)?.[1] : undefined;
    const problems: Issue[] = [];
    const self = key((w.req as { type: string }).type, w.id!);
    const out = rewriteLinks(resource, (value, kind, path) => {
      const mapped = this.fullUrls.get(value);
      if (mapped !== undefined) {
        if (this.mode === 'batch' && mapped !== self) {
          problems.push(
            issue(
              'error',
              'invalid',
              `Reference '${value}' points to another entry of this batch; batch entries must be independent (use a transaction)`,
              path(),
            ),
          );
          return undefined;
        }
        return mapped;
      }
      if (kind !== 'reference') return undefined;
      if (value.startsWith('urn:uuid:') || value.startsWith('urn:oid:')) {
        problems.push(issue('error', 'not-found', `Reference '${value}' does not resolve to any entry of this Bundle`, path()));
        return undefined;
      }
      if (base && this.mode === 'transaction' && parseRelativeReference(value)) {
        const absolute = this.fullUrls.get(`${base}/${value}`);
        if (absolute !== undefined) return absolute;
      }
      if (this.refKeys.has(value)) {
        try {
          return this.conditionalTarget(value);
        } catch (e) {
          if (!(e instanceof OperationOutcomeError)) throw e;
          throw new OperationOutcomeError(
            e.status,
            e.issues.map((i) => ({ ...i, expression: [path()] })),
          );
        }
      }
      return undefined;
    });
    if (problems.length) throw new OperationOutcomeError(problems.some((p) => p.code === 'invalid') ? 400 : 422, problems);
    return out;
  }

  /** Step 5a: links rewritten, then validated and normalised (a step of its own: a huge resource yields after it). */
  private validate(w: Work): void {
    const r = w.req;
    if ((r.op !== 'create' && r.op !== 'update') || w.aliasOf) return;
    const resource = this.rewrite(w, r.resource!);
    this.step();
    const prepared = this.repo.prepare(resource, r.type, w.id!, this.caller);
    w.warnings = prepared.warnings;
    w.prepared = prepared.resource;
  }

  /** Step 5b: plans the validated resource's version (patches wait for the current version). */
  private prepare(w: Work): void {
    const r = w.req;
    if ((r.op !== 'create' && r.op !== 'update') || w.aliasOf) return;
    const prepared = { resource: w.prepared! };
    w.prepared = undefined;
    if (w.effect === 'existing') return; // validated like a REST conditional create, but not written
    if (r.op === 'create') this.guardStockItem(undefined, prepared.resource, w);
    // A conditional update that creates without a client id is recorded as a create, as over REST.
    const method = r.op === 'create' || (r.criteria !== undefined && w.matches?.length === 0 && r.resource!.id === undefined) ? 'POST' : 'PUT';
    // versionId and insert are settled once the current row is known (step 6).
    w.writes = [
      this.repo.planVersion({ resourceType: r.type, id: w.id!, versionId: 1, method, insert: true }, prepared.resource, undefined, this.step),
    ];
  }

  // 6 ------------------------------------------------------------------------------------------------------------

  private async current(): Promise<void> {
    const works = this.active();
    const updates = works.filter((w) => (w.req.op === 'update' || w.req.op === 'patch') && w.id !== undefined);
    const deletes = works.filter((w) => w.req.op === 'delete');
    const existing = works.filter((w) => w.effect === 'existing' && !w.aliasOf);
    const repr = this.prefer === 'representation';

    if (updates.length) {
      const rows = await this.rows(
        updates.map((w) => ({
          type: (w.req as { type: string }).type,
          id: w.id!,
          content: w.req.op === 'update' ? w.writes[0]?.content : undefined,
          // a stock item's guard compares with the stored version
          want: w.req.op === 'patch' || repr || (w.req as { type: string }).type === 'Basic',
        })),
        'FOR NO KEY UPDATE OF r',
        'u',
      );
      for (const w of updates) this.guard(w, () => this.planUpdate(w, rows.get(key((w.req as { type: string }).type, w.id!))));
      await this.unchangedPatches();
    }
    if (deletes.length) {
      const targets = deletes.flatMap((w) => w.deleteIds!.map((id) => ({ type: (w.req as { type: string }).type, id, want: false })));
      const rows = await this.rows(targets, 'FOR UPDATE OF r', 'd');
      for (const w of deletes) this.guard(w, () => this.planDelete(w, rows));
    }
    if (existing.length) {
      const rows = await this.rows(
        existing.map((w) => ({ type: (w.req as { type: string }).type, id: w.id!, want: repr })),
        '',
        'r',
      );
      for (const w of existing) {
        const type = (w.req as { type: string }).type;
        const row = rows.get(key(type, w.id!));
        if (row)
          w.stored = {
            resourceType: type,
            id: w.id!,
            versionId: row.versionId,
            lastUpdated: row.lastUpdated,
            deleted: false,
            content: row.content ?? undefined,
          };
      }
    }
  }

  /**
   * Current rows of `targets`, locked in (id, type) order; `same` compares a new content with the stored one;
   * `readable` and `allowed` apply the caller's access (permission `perm`) inside the same statement.
   */
  private async rows(
    targets: { type: string; id: string; content?: string; want: boolean }[],
    lock: string,
    perm: AccessPermission,
  ): Promise<Map<string, Current>> {
    const b = new SqlBuilder([
      targets.map((t) => t.id),
      targets.map((t) => t.type),
      targets.map((t) => t.content ?? null),
      targets.map((t) => t.want),
    ]);
    const access = this.caller.access;
    const checks = access
      ? `${visible(b, 'r', access, undefined, SEE)} AS readable, ${visible(b, 'r', access, undefined, perm)} AS allowed`
      : 'true AS readable, true AS allowed';
    const { rows } = await this.client.query<{
      id: string;
      resource_type: string;
      version_id: number;
      deleted: boolean;
      last_updated: string;
      content: string | null;
      same: boolean;
      readable: boolean;
      allowed: boolean;
    }>(
      `SELECT r.id, r.resource_type, r.version_id, r.deleted, ${INSTANT_SQL('r.last_updated')} AS last_updated,
              CASE WHEN t.want THEN r.content END AS content,
              coalesce(t.content IS NOT NULL AND NOT r.deleted AND arogya_content_key(r.content) = arogya_content_key(t.content::jsonb), false) AS same,
              ${checks}
         FROM resource r
         JOIN unnest($1::text[], $2::text[], $3::text[], $4::bool[]) AS t(id, rt, content, want) ON r.id = t.id AND r.resource_type = t.rt
        ORDER BY r.id, r.resource_type ${lock}`,
      b.params,
    );
    return new Map(
      rows.map((r) => [
        key(r.resource_type, r.id),
        {
          versionId: r.version_id,
          deleted: r.deleted,
          lastUpdated: r.last_updated,
          content: r.content,
          same: r.same,
          readable: r.readable,
          allowed: r.allowed,
        },
      ]),
    );
  }

  /**
   * The caller's access to the current row of a resource it updates, patches or deletes: one it may not see is
   * unknown to it (404, as a read would say); one it may see but not change this way is a 403.
   */
  private checkAccess(perm: AccessPermission, type: string, id: string, cur: Current | undefined): void {
    if (!cur) return;
    if (!cur.readable) throw notFound(`${type}/${id} is not known`);
    if (!cur.deleted && !cur.allowed) throw outsideAccess(perm, `${type}/${id}`);
  }

  private checkIfMatch(w: Work, type: string, cur: Current | undefined): void {
    if (w.req.ifMatch === undefined) return;
    const expected = parseVersionTag(w.req.ifMatch);
    const label = this.labels.ifMatch;
    if (!cur || cur.deleted || cur.versionId !== expected) {
      throw preconditionFailed(
        cur && !cur.deleted
          ? `${label} W/"${expected}" does not match the current version W/"${cur.versionId}" of ${type}/${w.id}`
          : `${label} W/"${expected}" given, but ${type}/${w.id} does not currently exist`,
      );
    }
  }

  private planUpdate(w: Work, cur: Current | undefined): void {
    const r = w.req as Extract<PlanRequest, { op: 'update' | 'patch' }>;
    this.checkAccess('u', r.type, w.id!, cur);
    if (r.op === 'patch') {
      if (!cur) throw notFound(`${r.type}/${w.id} is not known`);
      if (cur.deleted) throw gone(`${r.type}/${w.id} was deleted`);
      this.checkIfMatch(w, r.type, cur);
      this.step();
      const patched = (r.patch ?? patchOf(r.resource!).apply)(parseStoredJson(cur.content!));
      if (!isJsonObject(patched) || patched.resourceType !== r.type) {
        throw new OperationOutcomeError(422, [issue('error', 'processing', 'The patch may not change the resourceType')]);
      }
      if (patched.id !== w.id) throw new OperationOutcomeError(422, [issue('error', 'processing', 'The patch may not change the resource id')]);
      this.step();
      const prepared = this.repo.prepare(this.rewrite(w, patched), r.type, w.id!, this.caller);
      w.warnings = prepared.warnings;
      this.guardStockItem(parseStoredJson(cur.content!), prepared.resource, w);
      w.writes = [
        this.repo.planVersion(
          { resourceType: r.type, id: w.id!, versionId: cur.versionId + 1, method: 'PATCH', insert: false },
          prepared.resource,
          undefined,
          this.step,
        ),
      ];
      w.effect = 'updated';
      w.stored = currentVersion(r.type, w.id!, cur);
      return;
    }
    this.checkIfMatch(w, r.type, cur);
    if (r.type === 'Basic') {
      const stored = cur && !cur.deleted && cur.content ? parseStoredJson(cur.content) : undefined;
      this.guardStockItem(stored, r.resource, w);
    }
    if (cur?.same) {
      w.writes = [];
      w.effect = 'unchanged';
      w.stored = currentVersion(r.type, w.id!, cur);
      return;
    }
    const v = w.writes[0];
    v.versionId = cur ? cur.versionId + 1 : 1;
    v.insert = !cur;
    w.effect = cur && !cur.deleted ? 'updated' : 'created';
  }

  /**
   * HMS stock items (workflows/stock.ts): a client's update or patch needs If-Match and may not change the
   * server-owned `stock-reserved`; a client's create may not set it. The server's own writes (a system caller:
   * workflows, jobs) and bulk $import are not checked.
   */
  private guardStockItem(current: JsonObject | undefined, next: JsonObject | undefined, w: Work): void {
    if (this.caller.actor.kind === 'system' || this.mode === 'import') return;
    if ((w.req as { type: string }).type !== 'Basic') return;
    checkStockItemWrite({ current, next, ifMatch: w.req.ifMatch !== undefined, ifMatchHeader: this.labels.ifMatch });
  }

  /** A patch that changes nothing makes no new version (as a REST patch): one statement for all patches. */
  private async unchangedPatches(): Promise<void> {
    const patches = this.active().filter((w) => w.req.op === 'patch' && w.writes.length === 1);
    if (patches.length === 0) return;
    const { rows } = await this.client.query<{ i: number }>(
      `SELECT t.i FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(id, rt, content, i)
         JOIN resource r ON r.id = t.id AND r.resource_type = t.rt
        WHERE arogya_content_key(r.content) = arogya_content_key(t.content::jsonb)`,
      [patches.map((w) => w.id), patches.map((w) => (w.req as { type: string }).type), patches.map((w) => w.writes[0].content)],
    );
    for (const { i } of rows) {
      const w = patches[Number(i) - 1];
      w.writes = [];
      w.effect = 'unchanged';
    }
  }

  private planDelete(w: Work, rows: Map<string, Current>): void {
    const type = (w.req as { type: string }).type;
    // access first: If-Match on a resource the caller may not see must not tell its version (or that it exists)
    for (const id of w.deleteIds!) this.checkAccess('d', type, id, rows.get(key(type, id)));
    if (w.deleteIds!.length === 1 || w.req.ifMatch !== undefined) this.checkIfMatch(w, type, rows.get(key(type, w.id!)));
    w.writes = [];
    let any = false;
    for (const id of w.deleteIds!) {
      const cur = rows.get(key(type, id));
      if (!cur || cur.deleted) continue;
      any = true;
      w.writes.push(this.repo.planVersion({ resourceType: type, id, versionId: cur.versionId + 1, method: 'DELETE', insert: false }, undefined));
    }
    w.effect = any ? 'deleted' : rows.get(key(type, w.id ?? '')) ? 'unchanged' : 'not-found';
  }

  // 7 ------------------------------------------------------------------------------------------------------------

  private async integrity(): Promise<void> {
    if (!this.opts.referentialIntegrity || this.mode === 'import') return;
    // Batch: an entry that fails here may be the target of another; repeat until nothing more fails.
    for (let round = 0; round < 10; round++) {
      const failedBefore = this.works.filter((w) => w.error).length;
      await this.checkTargets();
      await this.checkReferrers();
      if (this.mode === 'transaction' || this.works.filter((w) => w.error).length === failedBefore) return;
    }
  }

  private writtenKeys(): { live: Set<string>; gone: Set<string> } {
    const live = new Set<string>();
    const goneKeys = new Set<string>();
    for (const w of this.active()) {
      for (const v of w.writes) (v.content === undefined ? goneKeys : live).add(key(v.resourceType, v.id));
      if (w.effect === 'existing' || w.effect === 'unchanged') live.add(key((w.req as { type: string }).type, w.id!));
    }
    return { live, gone: goneKeys };
  }

  /** Every reference target must exist: in this bundle, or on the server (then locked against deletion). */
  private async checkTargets(): Promise<void> {
    const { live, gone: goneKeys } = this.writtenKeys();
    const outside = new Map<string, { type: string; id: string }>();
    for (const w of this.active()) {
      for (const v of w.writes) {
        for (const l of v.links) {
          const k = key(l.targetType, l.targetId);
          if (!live.has(k) && !goneKeys.has(k)) outside.set(k, { type: l.targetType, id: l.targetId });
        }
      }
    }
    const found = new Set<string>();
    if (outside.size) {
      const list = [...outside.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.type < b.type ? -1 : 1));
      // A restricted caller may reference only what it may use or act in (referenceable: its patient, its own
      // fhirUser); anything else is answered like a missing target, so a 422 never tells whether an id it cannot
      // see exists. A resource the write would put outside the caller's access is refused after (step 8).
      const b = new SqlBuilder([list.map((t) => t.id), list.map((t) => t.type)]);
      const ok = referenceable(b, 'r', this.caller.access, this.caller.actor.reference);
      const { rows } = await this.client.query<{ id: string; resource_type: string }>(
        `SELECT r.id, r.resource_type FROM resource r
           JOIN unnest($1::text[], $2::text[]) AS t(id, rt) ON r.id = t.id AND r.resource_type = t.rt
          WHERE NOT r.deleted AND ${ok} ORDER BY r.id, r.resource_type FOR KEY SHARE OF r`,
        b.params,
      );
      for (const r of rows) found.add(key(r.resource_type, r.id));
    }
    for (const w of this.active()) {
      const missing: Issue[] = [];
      for (const v of w.writes) {
        for (const l of v.links) {
          if (l.targetType === v.resourceType && l.targetId === v.id) continue;
          const k = key(l.targetType, l.targetId);
          if (live.has(k) || found.has(k)) continue;
          const why = goneKeys.has(k) ? 'it is deleted by this Bundle' : unresolvedWhy(this.caller.access);
          missing.push(issue('error', 'not-found', `Reference to ${k} does not resolve: ${why}`, l.path));
        }
      }
      if (missing.length) this.fail(w, new OperationOutcomeError(422, missing));
    }
  }

  /** A resource being deleted must not stay referenced by anything this bundle does not also rewrite or delete. */
  private async checkReferrers(): Promise<void> {
    const deletes = this.active().filter((w) => w.req.op === 'delete' && w.writes.length);
    if (deletes.length === 0) return;
    const targets = deletes.flatMap((w) => w.writes.map((v) => ({ type: v.resourceType, id: v.id })));
    const rewritten = this.active().flatMap((w) => w.writes.map((v) => ({ type: v.resourceType, id: v.id })));
    // Referrers the caller may not see still block the delete, but are not named (their ids would leak).
    const b = new SqlBuilder([targets.map((t) => t.id), targets.map((t) => t.type), rewritten.map((t) => t.id), rewritten.map((t) => t.type)]);
    const shown = this.caller.access ? visible(b, 'l', this.caller.access, undefined, SEE) : 'true';
    const { rows } = await this.client.query<{ resource_type: string; id: string; target_type: string; target_id: string; shown: boolean }>(
      `SELECT DISTINCT l.resource_type, l.id, l.target_type, l.target_id, ${shown} AS shown FROM resource_link l
         JOIN unnest($1::text[], $2::text[]) AS t(id, rt) ON l.target_id = t.id AND l.target_type = t.rt
        WHERE NOT (l.id = t.id AND l.resource_type = t.rt)
          AND (l.id, l.resource_type) NOT IN (SELECT * FROM unnest($3::text[], $4::text[]))
        ORDER BY l.target_type, l.target_id, l.resource_type, l.id LIMIT 1000`,
      b.params,
    );
    if (rows.length === 0) return;
    const byTarget = new Map<string, string[]>();
    for (const r of rows) {
      const k = key(r.target_type, r.target_id);
      byTarget.set(k, [...(byTarget.get(k) ?? []), r.shown ? key(r.resource_type, r.id) : HIDDEN_REFERRER]);
    }
    for (const w of deletes) {
      for (const v of w.writes) {
        const all = byTarget.get(key(v.resourceType, v.id));
        if (!all) continue;
        const hidden = all.includes(HIDDEN_REFERRER);
        const referrers = [...all.filter((r) => r !== HIDDEN_REFERRER), ...(hidden ? ['resources outside your access'] : [])];
        const more = referrers.length > MAX_LISTED_REFERRERS ? ' and more' : '';
        this.fail(
          w,
          new OperationOutcomeError(409, [
            issue(
              'error',
              'conflict',
              `${key(v.resourceType, v.id)} cannot be deleted: it is referenced by ${referrers.slice(0, MAX_LISTED_REFERRERS).join(', ')}${more}`,
            ),
          ]),
        );
        break;
      }
    }
  }

  // 7b -----------------------------------------------------------------------------------------------------------

  /**
   * National registries (fhir/registries.ts): each unique identifier a written version carries is claimed in
   * `business_claim` (primary key: the value and system) in this transaction, and the claims of what it no longer
   * carries — or of a deleted resource — are released. A concurrent writer of the same identifier blocks on the
   * uncommitted claim, then finds it taken: 409 naming the holder. Race-free without serialising unrelated writes.
   */
  private async claim(): Promise<void> {
    const rules = this.opts.uniqueIdentifiers ?? [];
    if (rules.length === 0) return;
    const claims: { w: Work; v: VersionWrite; key: RegistryKey }[] = [];
    const owners: VersionWrite[] = [];
    for (const w of this.active()) {
      for (const v of w.writes) {
        if (!rules.some((r) => r.resourceType === v.resourceType)) continue;
        owners.push(v);
        for (const key of registryKeys(rules, v.resourceType, v.index.search_token)) claims.push({ w, v, key });
      }
    }
    if (owners.length === 0) return;
    const client = this.connection!;
    const systems = [...new Set(rules.map((r) => r.system))];
    // Release first: a resource giving up an identifier in this plan frees it for another entry of the same plan.
    // A resource created here (no row before) holds no claim yet: nothing to release.
    const existing = owners.filter((v) => !v.insert);
    if (existing.length) {
      await client.query(
        `DELETE FROM business_claim c USING unnest($1::text[], $2::text[]) AS o(id, rt)
          WHERE c.resource_id = o.id AND c.resource_type = o.rt AND c.system = ANY($5::text[])
            AND NOT EXISTS (SELECT 1 FROM unnest($3::text[], $4::text[]) AS k(system, value) WHERE k.system = c.system AND k.value = c.value)`,
        [
          existing.map((v) => v.id),
          existing.map((v) => v.resourceType),
          claims.map((c) => c.key.rule.system),
          claims.map((c) => c.key.value),
          systems,
        ],
      );
    }
    if (claims.length === 0) return;
    // Claims in a stable order (value, system), so two plans claiming the same identifiers cannot deadlock.
    const order = claims
      .map((_, i) => i)
      .sort((a, b) => {
        const x = claims[a].key;
        const y = claims[b].key;
        return x.value === y.value ? (x.rule.system < y.rule.system ? -1 : 1) : x.value < y.value ? -1 : 1;
      });
    const sorted = order.map((i) => claims[i]);
    type Holder = { system: string; value: string; resource_type: string; resource_id: string };
    const claimArrays = [
      sorted.map((c) => c.key.rule.system),
      sorted.map((c) => c.key.value),
      sorted.map((c) => c.v.resourceType),
      sorted.map((c) => c.v.id),
    ];
    // One statement claims and reads the holders of the identifiers it could not claim. Its snapshot predates the
    // INSERT, so it sees a claim held from before (e.g. this resource's own, on an update) but not one a concurrent
    // writer committed while the INSERT waited for it: such a key, neither claimed nor seen, is read again below.
    const { rows } = await client.query<Holder>(
      `WITH ins AS (
         INSERT INTO business_claim (system, value, resource_type, resource_id)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT (value, system) DO NOTHING
         RETURNING system, value, resource_type, resource_id)
       SELECT system, value, resource_type, resource_id FROM ins
       UNION ALL
       ${CLAIM_HOLDERS}`,
      claimArrays,
    );
    const holders = new Map(rows.map((r) => [`${r.system}|${r.value}`, r]));
    const unseen = sorted.filter((c) => !holders.has(`${c.key.rule.system}|${c.key.value}`));
    if (unseen.length) {
      const again = await client.query<Holder>(CLAIM_HOLDERS, [unseen.map((c) => c.key.rule.system), unseen.map((c) => c.key.value)]);
      for (const r of again.rows) holders.set(`${r.system}|${r.value}`, r);
    }
    for (const { w, v, key: k } of claims) {
      const holder = holders.get(`${k.rule.system}|${k.value}`);
      if (!holder || (holder.resource_id === v.id && holder.resource_type === v.resourceType)) continue;
      this.fail(
        w,
        new OperationOutcomeError(409, [
          issue(
            'error',
            'duplicate',
            `${holder.resource_type}/${holder.resource_id} already has the ${k.rule.label} ${k.rule.system}|${k.value}: it names one ${v.resourceType} only`,
            `${v.resourceType}.identifier`,
          ),
        ]),
      );
    }
  }

  // 8 ------------------------------------------------------------------------------------------------------------

  private async write(): Promise<void> {
    this.settle(await this.commit(this.client, this.versions(), { returnContent: this.prefer === 'representation', caller: this.caller }));
    await this.checkWritten();
  }

  /**
   * Every version written must lie inside the caller's access — a created row under `c`, an updated one under `u`
   * — judged by the same SQL predicate as every read, on the rows and index rows just written (still
   * uncommitted). So a write can never put a resource outside the caller's compartment or granular scope: the old
   * version was checked in step 6, the new one here. A violation rolls the transaction back: in a batch the pass
   * fails as a whole and its entries are redone one by one (transaction.ts), so only the offending entry fails.
   */
  private async checkWritten(): Promise<void> {
    const access = this.caller.access;
    if (!access) return;
    // (a type the caller's access puts no row-level condition on needs no look at its rows)
    const perm = (w: Work): 'c' | 'u' => (w.effect === 'created' ? 'c' : 'u');
    const live = this.active().flatMap((w) =>
      w.writes.filter((v) => v.content !== undefined && !unrestrictedFor(access, perm(w), v.resourceType)).map((v) => ({ w, v })),
    );
    if (live.length === 0) return;
    const b = new SqlBuilder([live.map((x) => x.v.id), live.map((x) => x.v.resourceType)]);
    const { rows } = await this.client.query<{ i: string; c: boolean; u: boolean }>(
      `SELECT t.i, ${visible(b, 'r', access, undefined, 'c')} AS c, ${visible(b, 'r', access, undefined, 'u')} AS u
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(id, rt, i) JOIN resource r ON r.id = t.id AND r.resource_type = t.rt`,
      b.params,
    );
    for (const row of rows) {
      const { w, v } = live[Number(row.i) - 1];
      if (row[perm(w)]) continue;
      const err = outsideAccess(perm(w), `${v.resourceType}/${v.id} as written (it would lie outside the token's access)`);
      if (this.mode === 'batch') throw err; // the pass is redone entry by entry (transaction.ts)
      this.fail(w, err);
    }
  }

  // 9 ------------------------------------------------------------------------------------------------------------

  /** GET/HEAD entries: only in a transaction (a batch runs them on their own). */
  private async reads(): Promise<void> {
    for (const w of this.active()) {
      if (w.req.op !== 'read') continue;
      if (!this.read) {
        this.fail(w, new OperationOutcomeError(400, [issue('error', 'not-supported', 'GET/HEAD entries are not supported here')]));
        continue;
      }
      try {
        w.readResult = await this.read(this.client, {
          index: w.req.index,
          method: w.req.method as 'GET' | 'HEAD',
          url: w.req.url,
          ifNoneMatch: w.req.ifNoneMatch,
          ifModifiedSince: w.req.ifModifiedSince,
        });
      } catch (e) {
        this.fail(w, e);
      }
    }
  }
}
