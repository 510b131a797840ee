/**
 * The floors of issue 9's targets: what a request costs on this machine with nothing of a FHIR server in the way —
 * node:http and the same pg pool settings (server/database/pool.ts), no Fastify, no routing table, no token, no
 * audit, no content negotiation, no validation, no search index, no batching.
 * - `GET /fhir/Patient/{id}`: the very statement a read by id runs (server/repository/reads.ts `readById`), the
 *   stored JSON text sent back with the same ETag and Last-Modified headers.
 * - `POST /fhir/Patient`: the body stored as the raw baseline stores it (raw-loops.ts: one single-row INSERT of the
 *   JSON text under a new uuid, into bench_floor, made here like bench_raw), answered 201 with a Location and the
 *   body, as the server answers a create.
 * Run by the bench (run.ts) as its own process with the server's number of cluster workers, so that its CPU per
 * request is measured exactly as the server's is (cpu.ts: the process and its children).
 *
 * Usage: node dist/test/bench/floor-server.js   (env: DATABASE_URL, PORT, HOST, AROGYA_WORKERS, AROGYA_POOL_SIZE)
 */
import cluster from 'node:cluster';
import crypto from 'node:crypto';
import http from 'node:http';
import { createPool } from '../../server/database/pool';
import { readById } from '../../server/repository/reads';
import { httpDate } from '../../server/rest/http';

const workers = Number(process.env.AROGYA_WORKERS ?? 1);

/** The create floor's table, as the raw baseline's bench_raw (run.ts drops it after the round). */
export const FLOOR_TABLE = 'bench_floor';
const INSERT = { name: 'bench_floor_insert', text: `INSERT INTO ${FLOOR_TABLE} VALUES ($1, $2)` };

if (require.main !== module) {
  // imported for FLOOR_TABLE: nothing to start
} else if (cluster.isPrimary) {
  void (async () => {
    const pool = createPool(process.env.DATABASE_URL ?? '', 1, 'arogya-bench-floor');
    await pool.query(`CREATE TABLE IF NOT EXISTS ${FLOOR_TABLE} (id uuid PRIMARY KEY, content jsonb)`);
    await pool.end();
    if (workers > 1) fork();
    else serve();
  })();
} else serve();

function fork(): void {
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('exit', (_w, code, signal) => {
    if (signal !== 'SIGTERM' && code !== 0) process.exit(1); // a dead worker makes every figure wrong: stop loudly
  });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    process.exit(0);
  });
}

function serve(): void {
  const pool = createPool(process.env.DATABASE_URL ?? '', Number(process.env.AROGYA_POOL_SIZE ?? 10), 'arogya-bench-floor');
  const PATH = /^\/fhir\/Patient\/([A-Za-z0-9\-.]{1,64})$/;
  const server = http.createServer((req, res) => {
    if (req.url === '/readyz') return void res.end('ok');
    if (req.method === 'POST' && req.url === '/fhir/Patient') return create(req, res);
    const m = req.method === 'GET' ? PATH.exec(req.url ?? '') : null;
    if (!m) {
      res.statusCode = 404;
      return void res.end();
    }
    pool.query<{ version_id: number; last_updated: string; deleted: boolean; content: string | null }>(readById(m[1], 'Patient')).then(
      ({ rows }) => {
        const row = rows[0];
        if (!row || row.deleted || row.content === null) {
          res.statusCode = row ? 410 : 404;
          return void res.end();
        }
        res.writeHead(200, {
          'content-type': 'application/fhir+json; charset=utf-8',
          etag: `W/"${row.version_id}"`,
          'last-modified': httpDate(row.last_updated),
        });
        res.end(row.content);
      },
      (e: Error) => {
        res.statusCode = 500;
        res.end(e.message);
      },
    );
  });
  const create = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = crypto.randomUUID();
      pool.query({ ...INSERT, values: [id, body] }).then(
        () => {
          res.writeHead(201, {
            'content-type': 'application/fhir+json; charset=utf-8',
            location: `http://${req.headers.host}/fhir/Patient/${id}/_history/1`,
            etag: 'W/"1"',
          });
          res.end(body);
        },
        (e: Error) => {
          res.statusCode = 500;
          res.end(e.message);
        },
      );
    });
  };
  server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
  process.on('SIGTERM', () => server.close(() => void pool.end().then(() => process.exit(0))));
}
