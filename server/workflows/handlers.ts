/**
 * The rules the workflow runner (runner.ts) calls: dispensing (dispensing.ts, HMS-DOMAIN.md §5.2) and billing
 * (billing.ts, §5.1). Each half is wired here once its module exists.
 */
import { billEncounter, cancelEncounterBilling, dispenseCancelled } from './billing';
import type { Config } from '../config';
import { dispensingHandlers } from './dispensing';
import type { WorkflowHandlers } from './runner';

type Dispensing = Pick<
  WorkflowHandlers,
  'prepareForEncounter' | 'prepareForRequest' | 'requestEnded' | 'dispenseChanged' | 'delivered' | 'cancelForEncounter'
>;
type Billing = Pick<WorkflowHandlers, 'billEncounter' | 'cancelEncounterBilling' | 'dispenseCancelled'>;

// DISPENSING: dispensing.ts (AROGYA_DISPENSE_ON, AROGYA_ALLOW_PARTIAL).
const dispensing = (config: WorkflowConfig): Dispensing => dispensingHandlers(config);

const billing: Billing = { billEncounter, cancelEncounterBilling, dispenseCancelled };

/** The settings the rules take from the server's Config. */
export type WorkflowConfig = Pick<Config, 'dispenseOn' | 'allowPartial'>;

export function workflowHandlers(config: WorkflowConfig): WorkflowHandlers {
  return { ...dispensing(config), ...billing };
}
