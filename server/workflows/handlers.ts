/**
 * The rules the workflow runner (runner.ts) calls: dispensing (dispensing.ts, HMS-DOMAIN.md §5.2) and billing
 * (billing.ts, §5.1). Each half is wired here once its module exists.
 */
import type { WorkflowHandlers } from './runner';

type Dispensing = Pick<
  WorkflowHandlers,
  'prepareForEncounter' | 'prepareForRequest' | 'requestEnded' | 'dispenseChanged' | 'delivered' | 'cancelForEncounter'
>;
type Billing = Pick<WorkflowHandlers, 'billEncounter' | 'cancelEncounterBilling' | 'dispenseCancelled'>;

// DISPENSING: not built yet (issue 12) — no dispense is prepared, no stock moves.
const dispensing: Dispensing = {
  prepareForEncounter: async () => undefined,
  prepareForRequest: async () => undefined,
  requestEnded: async () => [],
  dispenseChanged: async () => undefined,
  delivered: async () => [],
  cancelForEncounter: async () => undefined,
};

// BILLING: not built yet (issue 12) — no ChargeItem or Invoice is generated.
const billing: Billing = {
  billEncounter: async () => undefined,
  cancelEncounterBilling: async () => undefined,
  dispenseCancelled: async () => undefined,
};

export const workflowHandlers: WorkflowHandlers = { ...dispensing, ...billing };
