/**
 * What each MedicationDispense holds of the dispensary's stock (HMS-DOMAIN.md §5.3 rule 5: "track reservedQty /
 * consumedQty per dispense"), written by the dispensing workflow (server/workflows/dispensing.ts) in the transaction
 * that changes the stock items: one row per (dispense, stock item) it drew from, with the quantity still reserved
 * and the quantity consumed (handed over). Releasing, consuming or returning stock moves these numbers to zero or
 * across, so a replayed or repeated status change never applies twice. Kept out of the dispense resource itself,
 * which a pharmacist's PUT rewrites. Distributed by the dispense id (leading column of the primary key).
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE TABLE dispense_stock (
      dispense_id   text        NOT NULL,
      stock_item_id text        NOT NULL,
      reserved      numeric     NOT NULL DEFAULT 0 CHECK (reserved >= 0),
      consumed      numeric     NOT NULL DEFAULT 0 CHECK (consumed >= 0),
      updated       timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (dispense_id, stock_item_id)
    );
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
