/**
 * A Subscription's owner (migration 20261205000400): the actor and access restriction of the client that last
 * wrote it through the API, recorded at the write engine's commit point in the writing transaction. Matching and
 * delivery act with the owner's access, so a subscription never sends what its owner's SMART scopes would not let
 * it read.
 *
 * Whose access, when someone else updates a subscription: the updater's. Keeping the creator's would let a caller
 * with narrower scopes (say `user/Subscription.u` and one patient's data) point a wider owner's subscription at an
 * endpoint of its choice; the last writer's access bounds what its own changes can send. The server's own writes
 * (`status=error`, imports by the CLI) keep the owner there is (or record the system when there is none).
 *
 * Every Subscription write also bumps `subscription_state.generation`: each process's index of active
 * subscriptions (index.ts) notices the change with its next match and reloads.
 */
import type { PoolClient } from '../../database/pool';
import type { Caller } from '../../repository/caller';
import type { StoredVersion } from '../../repository/versions';
import type { AfterWriteHook } from '../../repository/write-engine';

export const recordSubscriptionOwners: AfterWriteHook = Object.assign(
  async (client: PoolClient, caller: Caller, versions: readonly StoredVersion[]): Promise<void> => {
    const subs = versions.filter((v) => v.resourceType === 'Subscription');
    if (subs.length === 0) return;
    const live = [...new Set(subs.filter((v) => !v.deleted).map((v) => v.id))];
    if (live.length) {
      const { kind, reference, clientId } = caller.actor;
      const system = kind === 'system';
      await client.query(
        `INSERT INTO subscription_owner (id, actor, access)
       SELECT i, $2::jsonb, $3::jsonb FROM unnest($1::text[]) AS i
       ON CONFLICT (id) DO ${system ? 'NOTHING' : 'UPDATE SET actor = EXCLUDED.actor, access = EXCLUDED.access, updated = now()'}`,
        [live, JSON.stringify({ kind, reference, clientId }), caller.access ? JSON.stringify(caller.access) : null],
      );
    }
    await client.query('UPDATE subscription_state SET generation = generation + 1');
  },
  // (only Subscriptions have owners)
  { writesFor: (types: readonly string[]) => types.includes('Subscription') },
);
