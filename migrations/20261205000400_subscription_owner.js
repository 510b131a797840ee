/**
 * FHIR Subscriptions (server/events/subscriptions/): who owns each Subscription — the actor and the access
 * restriction (SMART scopes, compiled) of the client that last wrote it — so that matching and delivery never
 * see more than the owner could read. Written in the writing transaction by the write engine's commit point.
 *
 * `subscription_state.generation` grows with every Subscription write (same transaction): each process keeps an
 * index of the active subscriptions in memory and reloads it when the generation it reads with a match differs.
 *
 * Citus (DESIGN.md §3): subscription_owner is distributed by the Subscription's id; subscription_state is one row
 * on the coordinator.
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE TABLE subscription_owner (
      id      text        PRIMARY KEY,
      actor   jsonb       NOT NULL,
      access  jsonb,
      updated timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE subscription_state (
      one        boolean PRIMARY KEY DEFAULT true CHECK (one),
      generation bigint  NOT NULL
    );
    INSERT INTO subscription_state (one, generation) VALUES (true, 0);
  `);
};

exports.down = async (knex) => {
  await knex.raw('DROP TABLE subscription_state; DROP TABLE subscription_owner');
};
