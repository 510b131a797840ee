/**
 * The HMS workflows' trigger (HMS-DOMAIN.md §5, DESIGN.md §4): an `afterWrite` hook of the write engine, so it runs
 * inside the transaction of every committed write, whatever path wrote it (REST, bundle entries). It reacts to
 * state TRANSITIONS — it compares each written version with the one before it — so re-saving a finished Encounter
 * does nothing, and each transition is recorded in the processed-event ledger before its effects are written:
 *
 * | written version (by a user or client)                              | runs                                         |
 * |--------------------------------------------------------------------|----------------------------------------------|
 * | Encounter → finished                                               | dispensing.prepareForEncounter, billing.billEncounter |
 * | Encounter → cancelled / entered-in-error                           | dispensing.cancelForEncounter, billing.cancelEncounterBilling |
 * | MedicationRequest → active                                         | dispensing.prepareForRequest (it decides dispensability), then billing of a finished visit |
 * | MedicationRequest → cancelled / stopped / entered-in-error         | dispensing.requestEnded, billing.dispenseCancelled per dispense, billing of a finished visit |
 * | MedicationDispense created or status changed                       | dispensing.dispenseChanged (stock), billing.dispenseCancelled when it says so |
 * | SupplyDelivery → completed                                         | dispensing.delivered (restock), billing of each finished visit it resumed |
 * | DiagnosticReport → final / amended / corrected / appended          | billing of its finished visit (supplementary invoice or draft recomputed) |
 *
 * The effects are written through the write engine as the workflow (context.ts), in the same transaction: the bill
 * and the dispenses exist when the triggering response is sent, a failure or crash rolls back the trigger and its
 * effects together, and concurrent writes of one Encounter are serialised by its row, so only one of them sees the
 * transition. Writes by a workflow, by the server itself (CLI import) and by bulk `$import` (data migration,
 * `caller.triggers === false`) trigger nothing.
 *
 * Each workflow that changed something writes one Provenance (targets: what it created or changed; agent: its
 * Device; entity: the triggering version). A workflow that cannot act says why: a warning on the triggering
 * response (with `Prefer: return=OperationOutcome`, and in a bundle entry's outcome) and an active Flag.
 */
import type { PoolClient } from '../database/pool';
import { isJsonObject, parseStoredJson, type JsonObject } from '../fhir/json';
import type { Caller } from '../repository/caller';
import type { Repository } from '../repository/repository';
import type { StoredVersion } from '../repository/versions';
import type { AfterWriteHook } from '../repository/write-engine';
import { SID, WorkflowRun, type WorkflowContext, type WorkflowName } from './context';

/** The rules (dispensing.ts, billing.ts), as the runner calls them. */
export interface WorkflowHandlers {
  prepareForEncounter(ctx: WorkflowContext, encounter: JsonObject): Promise<void>;
  /** Returns the id of the Encounter whose bill may change, if any. */
  prepareForRequest(ctx: WorkflowContext, request: JsonObject): Promise<string | undefined>;
  /** Returns the dispenses it cancelled. */
  requestEnded(ctx: WorkflowContext, request: JsonObject): Promise<JsonObject[]>;
  /** Returns the dispense when billing must react (cancelled before completion). */
  dispenseChanged(ctx: WorkflowContext, previous: JsonObject | undefined, dispense: JsonObject): Promise<JsonObject | undefined>;
  /** Returns the ids of the Encounters whose bills may change. */
  delivered(ctx: WorkflowContext, delivery: JsonObject): Promise<string[]>;
  cancelForEncounter(ctx: WorkflowContext, encounter: JsonObject): Promise<void>;
  billEncounter(ctx: WorkflowContext, encounter: JsonObject): Promise<void>;
  cancelEncounterBilling(ctx: WorkflowContext, encounter: JsonObject): Promise<void>;
  dispenseCancelled(ctx: WorkflowContext, dispense: JsonObject): Promise<void>;
}

const ENDED_VISIT = new Set(['cancelled', 'entered-in-error']);
const ENDED_REQUEST = new Set(['cancelled', 'stopped', 'entered-in-error']);
const BILLABLE_REPORT = new Set(['final', 'amended', 'corrected', 'appended']);

/** Resource types whose versions can trigger a workflow, with the statuses of a NEW version that can. */
const TRIGGERS: Record<string, (status: string) => boolean> = {
  Encounter: (s) => s === 'finished' || ENDED_VISIT.has(s),
  MedicationRequest: (s) => s === 'active' || ENDED_REQUEST.has(s),
  MedicationDispense: () => true,
  SupplyDelivery: (s) => s === 'completed',
  DiagnosticReport: (s) => BILLABLE_REPORT.has(s),
};

const statusOf = (r: JsonObject | undefined): string | undefined => (typeof r?.status === 'string' ? r.status : undefined);
const refId = (ref: unknown, type: string): string | undefined => {
  if (!isJsonObject(ref) || typeof ref.reference !== 'string') return undefined;
  const m = /^(?:.*\/)?([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/.*)?$/.exec(ref.reference);
  return m && m[1] === type ? m[2] : undefined;
};

/** Whether writes of `caller` may trigger workflows. */
function triggers(caller: Caller): boolean {
  return !caller.workflow && caller.actor.kind !== 'system' && caller.triggers !== false;
}

export function workflowHook(repo: Repository, handlers: WorkflowHandlers): AfterWriteHook {
  const hook: AfterWriteHook = async (client, caller, versions) => {
    if (!triggers(caller)) return;
    for (const v of versions) {
      const accepts = TRIGGERS[v.resourceType];
      if (!accepts || v.deleted) continue;
      const next = v.content !== undefined ? parseStoredJson(v.content) : await current(repo, client, v);
      const status = statusOf(next);
      if (!next || status === undefined || !accepts(status)) continue;
      const run = new WorkflowRun(repo, client, { resourceType: v.resourceType, id: v.id, versionId: v.versionId }, caller.requestId);
      const previous = await run.previous(v.resourceType, v.id, v.versionId);
      await react(run, handlers, next, previous);
      await finish(run, next, v);
    }
  };
  // (only the trigger types' writes set a workflow off)
  hook.writesFor = (types) => types.some((t) => TRIGGERS[t] !== undefined);
  return hook;
}

async function current(repo: Repository, client: PoolClient, v: StoredVersion): Promise<JsonObject | undefined> {
  const run = new WorkflowRun(repo, client, v);
  return run.read(v.resourceType, v.id);
}

/** What the transition from `previous` to `next` sets off. */
async function react(run: WorkflowRun, h: WorkflowHandlers, next: JsonObject, previous: JsonObject | undefined): Promise<void> {
  const was = statusOf(previous);
  const now = statusOf(next) as string;
  const { resourceType, id, versionId } = run.trigger;
  const dispensing = run.context('dispensing');
  const billing = run.context('billing');
  const once = (hook: string) => dispensing.firstTime(hook, resourceType, id, versionId);
  const billVisit = async (encounterId: string | undefined) => {
    if (!encounterId) return;
    const encounter = await billing.read('Encounter', encounterId);
    if (statusOf(encounter) === 'finished') await h.billEncounter(billing, encounter as JsonObject);
  };

  switch (resourceType) {
    case 'Encounter':
      if (now === 'finished' && was !== 'finished' && (await once('encounter-finished'))) {
        await h.prepareForEncounter(dispensing, next);
        await h.billEncounter(billing, next);
      } else if (ENDED_VISIT.has(now) && !ENDED_VISIT.has(was ?? '') && (await once('encounter-ended'))) {
        await h.cancelForEncounter(dispensing, next);
        await h.cancelEncounterBilling(billing, next);
      }
      return;
    case 'MedicationRequest':
      if (now === 'active' && was !== 'active' && (await once('request-active'))) {
        await billVisit(await h.prepareForRequest(dispensing, next));
      } else if (ENDED_REQUEST.has(now) && !ENDED_REQUEST.has(was ?? '') && (await once('request-ended'))) {
        for (const d of await h.requestEnded(dispensing, next)) await h.dispenseCancelled(billing, d);
        await billVisit(refId(next.encounter, 'Encounter'));
      }
      return;
    case 'MedicationDispense':
      if (now !== was && (await once('dispense-status'))) {
        const cancelled = await h.dispenseChanged(dispensing, previous, next);
        if (cancelled) {
          await h.dispenseCancelled(billing, cancelled);
          await billVisit(refId(cancelled.context, 'Encounter'));
        }
      }
      return;
    case 'SupplyDelivery':
      if (was !== 'completed' && (await once('delivery-completed'))) {
        for (const encounterId of await h.delivered(dispensing, next)) await billVisit(encounterId);
      }
      return;
    case 'DiagnosticReport':
      if (!BILLABLE_REPORT.has(was ?? '') && (await once('report-billable'))) await billVisit(refId(next.encounter, 'Encounter'));
      return;
  }
}

/** The patient (or else the place) a Flag about the trigger is raised on. */
function flagSubject(trigger: JsonObject): JsonObject | undefined {
  for (const k of ['subject', 'patient', 'destination']) {
    const ref = trigger[k];
    if (isJsonObject(ref) && typeof ref.reference === 'string') return { reference: ref.reference };
  }
  return undefined;
}

/** Each workflow's Flags for its warnings and its Provenance; the notes become warnings of the triggering write. */
async function finish(run: WorkflowRun, trigger: JsonObject, version: StoredVersion): Promise<void> {
  const triggerRef = `${run.trigger.resourceType}/${run.trigger.id}`;
  const subject = flagSubject(trigger);
  const workflows = new Set<WorkflowName>([...run.touched.keys(), ...run.notes.map((n) => n.workflow)]);
  for (const workflow of workflows) {
    const ctx = run.context(workflow);
    const device = await workflowDevice(ctx);
    if (subject) {
      for (const n of run.notes.filter((x) => x.workflow === workflow && x.severity === 'warning')) {
        await ctx.create({
          resourceType: 'Flag',
          status: 'active',
          category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'admin', display: 'Administrative' }] }],
          code: { text: `${workflow}: ${n.text}${n.about ? ` (${n.about})` : ''}` },
          subject,
          ...(run.trigger.resourceType === 'Encounter' ? { encounter: { reference: triggerRef } } : {}),
          period: { start: run.now },
          author: { reference: `Device/${device}` },
        });
      }
    }
    const targets = [...(run.touched.get(workflow)?.values() ?? [])];
    if (targets.length === 0) continue;
    await ctx.create({
      resourceType: 'Provenance',
      target: targets.map((t) => ({ reference: `${t.resourceType}/${t.id}/_history/${t.versionId}` })),
      recorded: run.now,
      activity: { text: `${workflow} workflow` },
      agent: [
        {
          type: {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'performer', display: 'Performer' }],
          },
          who: { reference: `Device/${device}`, display: `Arogya ${workflow} workflow` },
        },
      ],
      entity: [{ role: 'source', what: { reference: `${triggerRef}/_history/${run.trigger.versionId}` } }],
    });
  }
  const issues = run.issues();
  if (issues.length) version.notes = [...(version.notes ?? []), ...issues];
}

/** The Device that stands for a workflow as an author (`${SID}/workflow|{name}`), created once. */
async function workflowDevice(ctx: WorkflowContext): Promise<string> {
  const key = { system: `${SID}/workflow`, value: ctx.workflow };
  const { resource } = await ctx.createOnce(
    {
      resourceType: 'Device',
      identifier: [key],
      status: 'active',
      deviceName: [{ name: `Arogya ${ctx.workflow} workflow`, type: 'user-friendly-name' }],
      type: { text: 'Software: automated workflow of the Arogya FHIR server' },
    },
    key,
  );
  return String(resource.id);
}
