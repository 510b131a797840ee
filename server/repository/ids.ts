/**
 * Server-assigned resource ids: UUID version 7 (RFC 9562 §5.7) — 48 bits of Unix milliseconds, then random bits.
 * DESIGN.md §3 asks for UUIDs; time-ordered ones make every index keyed by id (the primary key, each search table's
 * owner index, resource_link) grow at its right edge, which stays in the cache, instead of touching a random leaf
 * of an ever larger b-tree per insert (v4): writes stay fast as the database grows. 74 random bits per
 * millisecond keep ids unguessable enough to be no capability and unique without coordination.
 */
import crypto from 'node:crypto';

const RANDOM = Buffer.alloc(16 * 512);
let offset = RANDOM.length;

export function newResourceId(now: number = Date.now()): string {
  if (offset === RANDOM.length) {
    crypto.randomFillSync(RANDOM);
    offset = 0;
  }
  const b = RANDOM.subarray(offset, offset + 16);
  offset += 16;
  b.writeUIntBE(now, 0, 6);
  b[6] = (b[6] & 0x0f) | 0x70; // version 7
  b[8] = (b[8] & 0x3f) | 0x80; // variant 10
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
