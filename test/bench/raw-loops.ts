/**
 * The raw PostgreSQL baseline's client loops: `clients` concurrent loops, each on its own connection checked out
 * of a pg.Pool, issuing one single-row statement after another (a named, prepared statement: the cheapest way a
 * node client can ask). Latencies are recorded only while the shared phase flag says "measure".
 */
import crypto from 'node:crypto';
import pg from 'pg';

export type RawOp = 'insert' | 'select';

export interface RawLoopConfig {
  url: string;
  op: RawOp;
  clients: number;
  /** ids to read (select), visited round-robin from `offset` */
  ids: string[];
  offset: number;
  /** the JSON text inserted (insert) */
  json: string;
}

export interface RawLoopResult {
  count: number;
  errors: number;
  firstError?: string;
  /** ms, one per measured statement */
  latencies: number[];
}

/** Phase flag values (Int32Array over a SharedArrayBuffer, shared with worker threads). */
export const WARMUP = 0;
export const MEASURE = 1;
export const STOP = 2;

const INSERT = 'INSERT INTO bench_raw VALUES ($1, $2)';
const SELECT = 'SELECT content FROM bench_raw WHERE id = $1';

export interface RawLoops {
  /** Connected and idle; resolves when the loops have stopped. */
  run(): Promise<RawLoopResult>;
}

/** Opens the connections (so that connecting is not measured), then returns the loops ready to run. */
export async function prepareRawLoops(cfg: RawLoopConfig, phase: Int32Array): Promise<RawLoops> {
  // content comes back as text, as the server's pool does it (no JSON parse in the client)
  const pool = new pg.Pool({ connectionString: cfg.url, max: cfg.clients, types: { getTypeParser: () => (v: string) => v } as pg.CustomTypesConfig });
  pool.on('error', () => undefined);
  const clients = await Promise.all(Array.from({ length: cfg.clients }, () => pool.connect()));
  const result: RawLoopResult = { count: 0, errors: 0, latencies: [] };

  const loop = async (client: pg.PoolClient, start: number): Promise<void> => {
    let i = start;
    while (Atomics.load(phase, 0) !== STOP) {
      const measured = Atomics.load(phase, 0) === MEASURE;
      const t0 = performance.now();
      try {
        if (cfg.op === 'insert') {
          await client.query({ name: 'bench_raw_insert', text: INSERT, values: [crypto.randomUUID(), cfg.json] });
        } else {
          const { rows } = await client.query({ name: 'bench_raw_select', text: SELECT, values: [cfg.ids[i++ % cfg.ids.length]] });
          if (rows.length !== 1) throw new Error('a baseline row is missing');
        }
        if (measured && Atomics.load(phase, 0) === MEASURE) {
          result.count++;
          result.latencies.push(performance.now() - t0);
        }
      } catch (e) {
        result.errors++;
        result.firstError ??= (e as Error).message;
      }
    }
  };

  return {
    async run() {
      const step = Math.max(1, Math.floor(cfg.ids.length / cfg.clients));
      try {
        await Promise.all(clients.map((c, k) => loop(c, cfg.offset + k * step)));
      } finally {
        for (const c of clients) c.release();
        await pool.end();
      }
      return result;
    },
  };
}
