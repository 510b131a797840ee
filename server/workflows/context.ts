/**
 * What a workflow (dispensing, billing) is given to act with (HMS-DOMAIN.md §5, DESIGN.md §4): reads and writes
 * through the repository, as the server itself, inside the transaction of the write that triggered it — so its
 * effects commit or roll back with the trigger, reach the outbox like any write and have history.
 *
 * Exactly-once tools: `createOnce` (a deterministic business identifier claimed in `business_claim` before the
 * resource is written: concurrent runs collapse to one resource), `firstTime` (the processed-event ledger) and
 * `readForUpdate` (the stock compare-and-swap: the row stays locked until the transaction ends).
 */
import type { PoolClient } from '../database/pool';
import { isJsonObject, parseStoredJson, type JsonObject } from '../fhir/json';
import { issue, OperationOutcomeError, type Issue } from '../fhir/outcome';
import type { Caller } from '../repository/caller';
import { SYSTEM_CALLER } from '../repository/caller';
import type { Reads } from '../repository/reads';
import type { Repository } from '../repository/repository';
import { newResourceId } from '../repository/ids';
import type { Work } from '../repository/bundle-plan';

export type WorkflowName = 'billing' | 'dispensing';

/** Arogya's canonical base (HMS-DOMAIN.md §0) and its business identifier systems (`${SID}/invoice-key`, …). */
export const BASE = 'https://arogya.dev/fhir';
export const SID = `${BASE}/sid`;

export interface VersionRef {
  resourceType: string;
  id: string;
  versionId: number;
}

export interface WorkflowNote {
  severity: 'warning' | 'information';
  text: string;
  /** What the note is about, e.g. `MedicationRequest/1`. */
  about?: string;
}

export interface WorkflowContext {
  readonly workflow: WorkflowName;
  /** The triggering transaction: everything done here commits or rolls back with it. */
  readonly client: PoolClient;
  /** ISO instant of this run. */
  readonly now: string;
  /** The triggering version. */
  readonly trigger: VersionRef;
  /** FHIR search in this transaction (REST grammar, e.g. `encounter=Encounter/1&status=active`), every page, unrestricted. */
  search(resourceType: string, query: string): Promise<JsonObject[]>;
  read(resourceType: string, id: string): Promise<JsonObject | undefined>;
  /** The current version, its row locked (SELECT … FOR UPDATE) until the transaction ends. */
  readForUpdate(resourceType: string, id: string): Promise<JsonObject | undefined>;
  /**
   * Creates `resource` unless one of its type already claims `key` (which `resource.identifier` must carry):
   * race-free through business_claim. Returns the stored resource and whether this call created it.
   */
  createOnce(resource: JsonObject, key: { system: string; value: string }): Promise<{ resource: JsonObject; created: boolean }>;
  create(resource: JsonObject): Promise<JsonObject>;
  /** Update by id (`resource.id`); an identical body writes no version. Returns the stored resource. */
  update(resource: JsonObject): Promise<JsonObject>;
  /** The processed-event ledger: true the first time (hook, version) is seen, false on every replay. */
  firstTime(hook: string, resourceType: string, id: string, versionId: number): Promise<boolean>;
  /** The next bill number of (hospital, year): 1, 2, … without gaps (it rolls back with the transaction). */
  nextBillNumber(hospital: string, year: number): Promise<number>;
  /** An explanation a user can find when the workflow cannot act (response warning + a Flag). */
  note(severity: WorkflowNote['severity'], text: string, about?: string): void;
  /** The other workflow's context on the same run and transaction. */
  as(workflow: WorkflowName): WorkflowContext;
}

/** The caller a workflow writes as: the system, marked so the runner does not react to its own writes. */
export function workflowCaller(workflow: WorkflowName, requestId?: string): Caller {
  return { actor: { kind: 'system', clientId: `arogya-workflow-${workflow}` }, workflow, requestId };
}

/** One run of the workflows for one trigger: what each workflow wrote (its Provenance targets) and its notes. */
export class WorkflowRun {
  readonly now = new Date().toISOString();
  /** Per workflow: `Type/id/_history/vid` of every resource it created or changed, in order. */
  readonly touched = new Map<WorkflowName, Map<string, VersionRef>>();
  readonly notes: (WorkflowNote & { workflow: WorkflowName })[] = [];
  private readonly reads: Reads;

  constructor(
    readonly repo: Repository,
    readonly client: PoolClient,
    readonly trigger: VersionRef,
    private readonly requestId?: string,
  ) {
    this.reads = repo.within(client);
  }

  context(workflow: WorkflowName): WorkflowContext {
    const run = this;
    const caller = workflowCaller(workflow, this.requestId);
    const record = (stored: JsonObject, changed: boolean): JsonObject => {
      if (!changed) return stored;
      const meta = isJsonObject(stored.meta) ? stored.meta : {};
      const ref: VersionRef = { resourceType: String(stored.resourceType), id: String(stored.id), versionId: Number(meta.versionId) };
      const mine = run.touched.get(workflow) ?? new Map<string, VersionRef>();
      mine.set(`${ref.resourceType}/${ref.id}`, ref);
      run.touched.set(workflow, mine);
      return stored;
    };
    const writeOne = async (request: Parameters<Repository['engine']['within']>[2][number]): Promise<{ stored: JsonObject; changed: boolean }> => {
      const plan = await this.repo.engine.within(this.client, caller, [request], 'single', 'representation');
      const w: Work = plan.works[0];
      const version = w.written?.length ? w.written[w.written.length - 1] : w.stored;
      if (!version?.content) throw new Error(`workflow ${workflow}: ${request.url} wrote no resource`);
      return { stored: parseStoredJson(version.content), changed: w.effect === 'created' || w.effect === 'updated' };
    };
    const ctx: WorkflowContext = {
      workflow,
      client: this.client,
      now: this.now,
      trigger: this.trigger,
      search: (resourceType, query) => run.search(resourceType, query),
      read: (resourceType, id) => run.read(resourceType, id),
      async readForUpdate(resourceType, id) {
        const { rowCount } = await run.client.query('SELECT 1 FROM resource WHERE id = $1 AND resource_type = $2 AND NOT deleted FOR UPDATE', [
          id,
          resourceType,
        ]);
        return rowCount ? run.read(resourceType, id) : undefined;
      },
      async createOnce(resource, key) {
        const type = String(resource.resourceType);
        const ids = Array.isArray(resource.identifier) ? resource.identifier : [];
        if (!ids.some((i) => isJsonObject(i) && i.system === key.system && i.value === key.value)) {
          throw new Error(`workflow ${workflow}: a ${type} created once must carry its key ${key.system}|${key.value}`);
        }
        const id = newResourceId();
        const { rows } = await run.client.query<{ resource_type: string; resource_id: string }>(
          `WITH claim AS (
             INSERT INTO business_claim (system, value, resource_type, resource_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT (value, system) DO NOTHING RETURNING resource_type, resource_id)
           SELECT resource_type, resource_id FROM claim
           UNION ALL SELECT resource_type, resource_id FROM business_claim WHERE system = $1 AND value = $2 AND NOT EXISTS (SELECT 1 FROM claim)`,
          [key.system, key.value, type, id],
        );
        // Another transaction holding the same key blocks the INSERT until it ends; then the row is there to read.
        const claim = rows[0] ?? (await run.claimOf(key));
        if (claim.resource_type !== type) {
          throw new Error(`workflow ${workflow}: ${key.system}|${key.value} is claimed by a ${claim.resource_type}, not a ${type}`);
        }
        const existing = claim.resource_id === id ? undefined : await run.read(type, claim.resource_id);
        if (existing) return { resource: existing, created: false };
        // New (or its earlier resource was deleted since): written under the claimed id.
        const { stored } = await writeOne({
          op: 'update',
          type,
          id: claim.resource_id,
          index: 0,
          method: 'PUT',
          url: `${type}/${claim.resource_id}`,
          resource: { ...resource, id: claim.resource_id },
        });
        return { resource: record(stored, true), created: true };
      },
      async create(resource) {
        const type = String(resource.resourceType);
        const { stored, changed } = await writeOne({ op: 'create', type, index: 0, method: 'POST', url: type, resource });
        return record(stored, changed);
      },
      async update(resource) {
        const type = String(resource.resourceType);
        if (typeof resource.id !== 'string') throw new Error(`workflow ${workflow}: an update needs the resource's id`);
        const url = `${type}/${resource.id}`;
        const { stored, changed } = await writeOne({ op: 'update', type, id: resource.id, index: 0, method: 'PUT', url, resource });
        return record(stored, changed);
      },
      async firstTime(hook, resourceType, id, versionId) {
        const { rowCount } = await run.client.query(
          `INSERT INTO workflow_ledger (resource_id, resource_type, version_id, hook) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
          [id, resourceType, versionId, hook],
        );
        return rowCount === 1;
      },
      async nextBillNumber(hospital, year) {
        const { rows } = await run.client.query<{ last: number }>(
          `INSERT INTO bill_sequence (hospital, year, last) VALUES ($1, $2, 1)
           ON CONFLICT (hospital, year) DO UPDATE SET last = bill_sequence.last + 1 RETURNING last`,
          [hospital, year],
        );
        return rows[0].last;
      },
      note(severity, text, about) {
        run.notes.push({ workflow, severity, text, about });
      },
      as: (other) => run.context(other),
    };
    return ctx;
  }

  async read(resourceType: string, id: string): Promise<JsonObject | undefined> {
    try {
      const v = await this.reads.read(SYSTEM_CALLER, resourceType, id);
      return v.content ? parseStoredJson(v.content) : undefined;
    } catch (e) {
      if (e instanceof OperationOutcomeError && (e.status === 404 || e.status === 410)) return undefined;
      throw e;
    }
  }

  /** The version before `versionId` (undefined: none, or a deletion). */
  async previous(resourceType: string, id: string, versionId: number): Promise<JsonObject | undefined> {
    if (versionId <= 1) return undefined;
    try {
      const v = await this.reads.vread(SYSTEM_CALLER, resourceType, id, String(versionId - 1));
      return v.content && !v.deleted ? parseStoredJson(v.content) : undefined;
    } catch (e) {
      if (e instanceof OperationOutcomeError && (e.status === 404 || e.status === 410)) return undefined;
      throw e;
    }
  }

  async search(resourceType: string, query: string): Promise<JsonObject[]> {
    const criteria = await this.reads.criteria(resourceType, new URLSearchParams(query), 'A workflow search');
    const out: JsonObject[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.reads.searchResources(SYSTEM_CALLER, {
        types: [resourceType],
        criteria,
        sort: [],
        count: 1000,
        cursor,
        include: [],
        total: 'none',
      });
      for (const m of page.matches) out.push(parseStoredJson(m.content));
      cursor = page.next;
    } while (cursor);
    return out;
  }

  private async claimOf(key: { system: string; value: string }): Promise<{ resource_type: string; resource_id: string }> {
    const { rows } = await this.client.query<{ resource_type: string; resource_id: string }>(
      'SELECT resource_type, resource_id FROM business_claim WHERE system = $1 AND value = $2',
      [key.system, key.value],
    );
    if (!rows[0]) throw new Error(`business claim ${key.system}|${key.value} vanished`);
    return rows[0];
  }

  /** The run's notes as OperationOutcome issues for the triggering response. */
  issues(): Issue[] {
    return this.notes.map((n) => issue(n.severity, n.severity === 'warning' ? 'incomplete' : 'informational', `${n.workflow}: ${n.text}`));
  }
}
