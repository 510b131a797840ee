/**
 * Builds the Fastify application from a Config and a database pool: registers plugins and routes, nothing else.
 */
import { r4Model } from './fhir/definitions';
import crypto from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { registerAuditHooks } from './audit/http';
import { AuditLog } from './audit/log';
import { authBaseOf, type Config } from './config';
import type { Pool } from './database/pool';
import { readiness } from './database/readiness';
import { requestScope, type RequestScope } from './database/request-scope';
import { fhirGuard } from './auth/guard';
import { registerAuth } from './auth/plugin';
import { ID_TOKEN_TTL_S, createAuthServices, type AuthServices } from './auth/services';
import { SigningKeys } from './auth/keys';
import { WsBindingTokens, websocketUrlOf } from './events/subscriptions/ws-binding-token';
import { registerWebsocketChannel } from './events/subscriptions/websocket';
import { JobRunner } from './jobs/runner';
import type { EventConsumer } from './events/event';
import { EventPipeline } from './events/pipeline';
import { workflowHandlers } from './workflows/handlers';
import { workflowHook, type WorkflowHandlers } from './workflows/runner';
import { recordSubscriptionOwners } from './events/subscriptions/owner';
import { SubscriptionConsumer } from './events/subscriptions/consumer';
import { Repository } from './repository/repository';
import type { AfterWriteHook } from './repository/write-engine';
import { SearchParameterRunner } from './repository/search/reindex';
import { bulkRoutes } from './rest/operations/bulk';
import { registerBodyParsers } from './rest/body-parsers';
import { clientErrorHandler, errorHandler, expectationFailed, notFoundHandler } from './rest/errors';
import { lingerOnClose } from './linger';
import { fhirRequestHook, type FhirRequest } from './rest/negotiation';
import { registerResponseHeaders } from './rest/response-headers';
import { registerRoutes } from './rest/router';
import type { RestContext } from './rest/context';
import { loadProfileSet } from './profiles-load';
import { loadConformance } from './conformance-load';
import { registerWebApp, registerWebAppClient } from './web-app';
import { registerDocs } from './docs/routes';

declare module 'fastify' {
  interface FastifyRequest {
    /** A read request's hold on its database connections (database/request-scope.ts); null for other requests. */
    scope: RequestScope | null;
  }
}

export const FHIR_PREFIX = '/fhir';
/** Largest request line + headers accepted (long GET search URLs). */
export const SEARCH_MAX_URL_BYTES = 256 * 1024;

/** Request ids: the caller's X-Request-Id when it is a sane token, else a new UUID. */
function requestId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : crypto.randomUUID();
}

/**
 * Log lines never carry patient data: the URL is logged as its path plus the *names* of its query parameters
 * (values such as identifiers or names are dropped), and no bodies or headers are logged.
 */
function redactedUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const names = [...new URLSearchParams(url.slice(q + 1)).keys()];
  return `${url.slice(0, q)}?${names.map((n) => `${n}=…`).join('&')}`;
}

export function loggerOptions(config: Config): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    redact: ['req.headers.authorization', 'req.headers.cookie'],
    serializers: {
      req: (req: { method: string; url: string; id: string }) => ({ method: req.method, url: redactedUrl(req.url), id: req.id }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  };
}

export interface AppOptions {
  logger?: boolean;
  /** Hooks of the write engine's commit point (repository/write-engine.ts), e.g. the outbox; none by default. */
  afterWrite?: AfterWriteHook[];
  /**
   * The event pipeline's dispatcher and consumers (events/pipeline.ts), started with the app: on by default;
   * `false` runs no dispatcher here (committed writes still go to the outbox, for a process that runs one). The
   * FHIR Subscriptions consumer (events/subscriptions/) is added to the consumers given unless `subscriptions: false`.
   */
  events?: boolean | { consumers: EventConsumer[]; subscriptions?: boolean };
  /** Where log lines go instead of stdout (tests read them). */
  logStream?: NodeJS.WritableStream;
  /**
   * The background job runner (bulk $export/$import), started with the app and stopped by app.close(): on by
   * default; `false` builds an app without one (bulk kick-offs then answer 503); `{ pollingIntervalSeconds }`
   * sets how often an idle runner polls the queue.
   */
  jobs?: boolean | { pollingIntervalSeconds: number };
  /** The HMS workflows' rules (workflows/runner.ts), when config.workflows is on; default: workflows/handlers.ts. */
  workflows?: WorkflowHandlers;
}

export async function buildApp(config: Config, pool: Pool, opts: AppOptions = {}): Promise<FastifyInstance> {
  // The R4 definitions (every request's resource-type check) are read now, not by the first request that needs them.
  r4Model();
  const app = Fastify({
    logger: opts.logger === false ? false : { ...(loggerOptions(config) as object), ...(opts.logStream ? { stream: opts.logStream } : {}) },
    bodyLimit: config.bodyLimit,
    genReqId: requestId,
    requestIdHeader: false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // Search URLs may carry hundreds of identifiers (`identifier=a,b,…`): allow request lines up to 256 KiB
    // (Node's default header limit is 16 KiB); POST [type]/_search has no such limit.
    // Slow clients (slowloris): the whole request, headers included, must arrive within requestTimeout (Node
    // answers 408 and closes), idle keep-alive connections close after keepAliveTimeout, and a connection serves
    // at most maxRequestsPerSocket requests. Node checks the request deadline every connectionsCheckingInterval.
    http: {
      maxHeaderSize: SEARCH_MAX_URL_BYTES,
      headersTimeout: Math.min(60_000, config.requestTimeoutMs),
      connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(config.requestTimeoutMs / 4))),
    },
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.connectionTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    maxRequestsPerSocket: config.maxRequestsPerSocket,
    // A server process drains before it closes (drain.ts: new requests get a 503 OperationOutcome meanwhile); a
    // request that still arrives during close() is served, not refused with Fastify's plain-JSON 503.
    return503OnClosing: false,
    clientErrorHandler,
    frameworkErrors: errorHandler,
  });
  // More concurrent connections than this are refused at once (each costs memory and a share of the pool).
  app.server.maxConnections = config.maxConnections;
  app.server.on('checkExpectation', expectationFailed);
  // A connection closed after a response reads what the client still sends before it goes (linger.ts).
  lingerOnClose(app.server);
  // Every committed write goes to the outbox (its write statement's event_outbox row); this process's dispatcher hands it on.
  const consumers: EventConsumer[] = typeof opts.events === 'object' ? [...opts.events.consumers] : [];
  const events =
    opts.events === false
      ? undefined
      : new EventPipeline({
          pool,
          log: app.log,
          consumers,
          pollMs: config.eventPollMs,
          retryLimit: config.eventRetryLimit,
          retryDelaySeconds: config.eventRetryDelaySeconds,
          expireSeconds: config.eventExpireSeconds,
        });
  // Profiles and terminology: profiles/ and AROGYA_IG_DIRS, read once at start-up (profiles-load.ts).
  const conformance = loadProfileSet(config);
  for (const p of conformance.problems) app.log.warn(`profiles: ${p}`);
  // The built-in OperationDefinitions, SearchParameters and CapabilityStatement texts (conformance/), read now.
  loadConformance();
  const repo = new Repository(pool, {
    referentialIntegrity: config.referentialIntegrity,
    profiles: conformance.set,
    baseUrl: config.baseUrl,
    timeZone: config.timeZone,
    afterWrite: [recordSubscriptionOwners, ...(events ? [events.wake] : []), ...(opts.afterWrite ?? [])],
    outbox: true,
    subscriptionAllow: config.subscriptionAllow,
    uniqueIdentifiers: config.uniqueIdentifiers,
    maxIndexValues: config.maxIndexValues,
  });
  // The HMS workflows react to committed transitions inside the writing transaction (workflows/runner.ts).
  if (config.workflows) repo.engine.afterWrite.push(workflowHook(repo, opts.workflows ?? workflowHandlers(config)));
  const ctx: RestContext = { config, repo };
  // SMART on FHIR (DESIGN.md §1.1): on unless AROGYA_AUTH=off; then every request is anonymous and unrestricted.
  const auth: AuthServices | undefined = config.auth === 'smart' ? createAuthServices(config, pool, repo) : undefined;
  app.decorate('authServices', auth ?? null);
  // Websocket binding tokens ($get-ws-binding-token) are signed with the auth keys; with AROGYA_AUTH=off with keys of
  // their own (the same table), so that a token still binds only what it names, on whichever process.
  const keys =
    auth?.keys ??
    new SigningKeys(pool, {
      rotationSeconds: config.signingKeyRotationSeconds,
      maxTokenSeconds: Math.max(config.accessTokenTtlSeconds, ID_TOKEN_TTL_S),
    });
  ctx.wsBindingTokens = new WsBindingTokens(keys, {
    issuer: authBaseOf(config.baseUrl),
    websocketUrl: websocketUrlOf(config.baseUrl),
    ttlSeconds: config.wsTokenTtlSeconds,
  });
  app.decorateRequest('auth', null);

  registerBodyParsers(app, { maxElements: config.maxBodyElements, maxDepth: config.maxBodyDepth });
  registerResponseHeaders(app);
  // (callback-style hooks here and in response-headers.ts: an async hook costs every request a promise and a turn of
  // the microtask queue)
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('X-Request-Id', req.id);
    done();
  });
  // The audit trail of every FHIR request (audit/http.ts); its buffer is written on close (after a drain).
  const audit = config.audit ? new AuditLog(pool, { flushMs: config.auditFlushMs, warn: (m) => app.log.warn(m) }) : null;
  registerAuditHooks(app, audit, FHIR_PREFIX);
  // A read whose client went away is cancelled in the database (searches can be long; nobody waits for them).
  // Writes are left to finish or roll back on their own: concurrent creates share statements (coalesce.ts).
  app.decorateRequest('scope', null);
  app.addHook('preHandler', (req, reply, done) => {
    if (req.method !== 'GET' && req.method !== 'HEAD' && !req.routeOptions.url?.endsWith('/_search')) return done();
    if (req.ws) return done(); // a websocket upgrade: its work happens later, per message, not in this request
    const scope = requestScope();
    req.scope = scope; // the request's Caller carries it to the read path (rest/caller.ts)
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) scope.clientGone();
    });
    done();
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  if (auth) await registerAuth(app, auth, FHIR_PREFIX);
  // The clinician app (web-app.ts): static files at /app; with SMART on, its public client is (re)registered here.
  registerWebApp(app, config);
  if (auth) await registerWebAppClient(auth.clients, config);

  app.get('/healthz', async () => ({ status: 'ok' }));
  // API documentation (public): /docs and /docs/openapi.json, generated from the CapabilityStatement (docs/)
  registerDocs(app, ctx);
  app.get('/readyz', async (_req, reply) => {
    const status = await readiness(pool, config.readyTimeoutMs);
    return status === 'ready' ? { status } : reply.code(503).send({ status });
  });
  // Custom SearchParameters: registry sync and reindex jobs (every process runs one; they share the work).
  const searchParameters = new SearchParameterRunner({
    pool,
    timeZone: config.timeZone,
    baseUrl: config.baseUrl,
    log: app.log,
    pollMs: config.searchParameterPollMs,
  });
  await searchParameters.start();
  app.addHook('onClose', async () => searchParameters.stop());

  // Everything under the FHIR base: content negotiation and Prefer are worked out once, in a hook, for all routes.
  // (Declared on every request so all requests keep one shape; null outside the FHIR base.)
  app.decorateRequest('fhir', null as unknown as FhirRequest);
  // biome-ignore lint/nursery/noMisusedPromises: Fastify awaits async plugins (its documented plugin form)
  await app.register(async (fhir) => {
    if (auth) fhir.addHook('onRequest', fhirGuard(auth.tokens, FHIR_PREFIX));
    fhir.addHook('preHandler', fhirRequestHook);
    registerRoutes(fhir, ctx, FHIR_PREFIX);
    await fhir.register(bulkRoutes(ctx), { prefix: `${FHIR_PREFIX}/_bulk` });
  });

  // The websocket channel of Subscriptions at [base]/ws (registered last: its plugin wraps only routes declared after it)
  await registerWebsocketChannel(app, {
    config,
    pool,
    repo,
    tokens: auth?.tokens,
    bindingTokens: ctx.wsBindingTokens,
    path: `${FHIR_PREFIX}/ws`,
  });

  if (events) {
    // FHIR Subscriptions (events/subscriptions/): a consumer of the change stream unless a test turns it off.
    if (!(typeof opts.events === 'object' && opts.events.subscriptions === false)) {
      consumers.push(
        new SubscriptionConsumer({
          pool,
          repo,
          log: app.log,
          allow: config.subscriptionAllow,
          retryLimit: config.subscriptionRetryLimit,
          retryDelaySeconds: config.subscriptionRetryDelaySeconds,
          timeoutMs: config.subscriptionTimeoutMs,
          concurrency: config.subscriptionConcurrency,
        }),
      );
    }
    await events.start();
    app.addHook('onClose', async () => events.stop());
  }

  if (opts.jobs !== false) {
    const jobs = new JobRunner({
      config,
      queuePool: pool,
      repo,
      log: app.log,
      pollingIntervalSeconds: typeof opts.jobs === 'object' ? opts.jobs.pollingIntervalSeconds : undefined,
    });
    await jobs.start();
    ctx.jobs = jobs;
    app.addHook('onClose', async () => jobs.stop());
  }
  return app;
}
