/**
 * A server process for the event pipeline's process tests (pipeline-processes.test.ts), run compiled
 * (`node dist/test/events/pipeline-process.js`): the real app from its environment (server/config.ts), plus one
 * event consumer that POSTs each change event to `TEST_RECEIVER_URL` (a real HTTP receiver in the test) and fails
 * when the receiver does not answer 2xx. Several of these on one database are the worker processes of one server.
 */
import { buildApp } from '../../server/app';
import { bootstrapAdminClient } from '../../server/auth/bootstrap';
import { loadConfig } from '../../server/config';
import { createPool, servingLimits } from '../../server/database/pool';
import type { EventConsumer } from '../../server/events/event';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const receiver = process.env.TEST_RECEIVER_URL;
  if (!config.databaseUrl || !receiver) throw new Error('DATABASE_URL and TEST_RECEIVER_URL are required');
  const pool = createPool(config.databaseUrl, config.poolSize, 'arogya', servingLimits(config));
  if (config.auth === 'smart') await bootstrapAdminClient(pool, config);
  const consumer: EventConsumer = {
    name: 'receiver',
    async handle(event) {
      const res = await fetch(receiver, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...event, pid: process.pid }),
      });
      if (!res.ok) throw new Error(`the receiver answered ${res.status}`);
    },
  };
  const app = await buildApp(config, pool, { events: { consumers: [consumer] } });
  await app.listen({ port: config.port, host: config.host });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
