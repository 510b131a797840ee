/**
 * Environment → typed, validated Config (DESIGN.md §1 is the contract for these names).
 * Every setting is read here and nowhere else, so the README's table can be checked against one file.
 */
import os from 'node:os';
import path from 'node:path';
import { parseAllowList, type AllowList } from './events/subscriptions/address-guard';
import { parseUniqueIdentifiers, type UniqueIdentifierRule } from './fhir/registries';

export interface Config {
  port: number;
  host: string;
  /** External PostgreSQL; when undefined the embedded database is started under dataDir. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** Public FHIR base, no trailing slash, e.g. http://localhost:8080/fhir */
  baseUrl: string;
  auth: 'smart' | 'off';
  /** AuditEvents for authorization decisions and patient-data access (default: on with auth, off with AROGYA_AUTH=off). */
  audit: boolean;
  /** Longest an AuditEvent waits in memory before its batch is written (ms). */
  auditFlushMs: number;
  /** Largest accepted request body in bytes (413 beyond). */
  bodyLimit: number;
  /** Reject references to missing resources and deletes of referenced ones (off only for migrations). */
  referentialIntegrity: boolean;
  /** HTTP worker processes (each with its own pool); 1 = serve in the main process. */
  workers: number;
  /** Database connections per process. */
  poolSize: number;
  /** IANA zone for dates written without an offset. */
  timeZone: string;
  logLevel: string;
  /** URL prefixes `$import` may read inputs from besides the server's own uploads (none by default). */
  importAllow: string[];
  /** Largest NDJSON upload (`POST /fhir/_bulk/upload`) in bytes. */
  bulkUploadLimit: number;
  /** Hours a finished bulk job's status, files and uploads are kept before they are deleted. */
  bulkRetentionHours: number;
  /** How often each process syncs custom SearchParameters and looks for reindex work (ms). */
  searchParameterPollMs: number;
  /** Longest a single SQL statement of a request may run (ms; 0 = no limit); beyond → 503 + Retry-After. */
  statementTimeoutMs: number;
  /** Longest a request waits for a database connection from the pool (ms); beyond → 503 + Retry-After. */
  poolTimeoutMs: number;
  /** Longest /readyz waits for its database probe (ms) before it says not ready. */
  readyTimeoutMs: number;
  /** Longest a client may take to send a whole request, headers and body (ms): slowloris bodies end with 408. */
  requestTimeoutMs: number;
  /** Longest a connection may stay silent (ms), the server's work on a request included, before it is closed (0 = no limit). */
  connectionTimeoutMs: number;
  /** Longest an idle keep-alive connection is kept open between requests (ms). */
  keepAliveTimeoutMs: number;
  /** Requests served on one keep-alive connection before it is closed (0 = no limit). */
  maxRequestsPerSocket: number;
  /** Concurrent client connections per process; more are refused at once. */
  maxConnections: number;
  /** Most entries a batch or transaction Bundle may hold. */
  maxBundleEntries: number;
  /** Most JSON values (objects, arrays, strings, numbers, …) a request body may hold. */
  maxBodyElements: number;
  /** Most search index values one resource may have (its contained resources as many again); more → 400. */
  maxIndexValues: number;
  /** Longest a batch or transaction may work (ms): beyond, a transaction rolls back (503), a batch answers the rest 503. */
  requestDeadlineMs: number;
  /** How often each process's event dispatcher looks for committed changes written by other processes (ms). */
  eventPollMs: number;
  /** Retries of a failed event delivery (doubling delays) before it goes to the consumer's dead-letter queue. */
  eventRetryLimit: number;
  /** First retry delay of a failed event delivery (seconds). */
  eventRetryDelaySeconds: number;
  /** A delivery running longer than this, or whose process died, is retried (seconds). */
  eventExpireSeconds: number;
  /** The HMS workflows (dispensing, billing at visit conclusion; server/workflows/) react to writes. */
  workflows: boolean;
  /** When a prescription is dispensed (HMS-DOMAIN §5.2): at the visit's conclusion (default) or as soon as it is active. */
  dispenseOn: 'conclusion' | 'request';
  /** A short stock prepares what there is and puts the rest on hold (keys `#part1`/`#part2`) instead of holding it all. */
  allowPartial: boolean;
  /** Lifetime of a websocket binding token from `$get-ws-binding-token` (seconds). */
  wsTokenTtlSeconds: number;
  /** Identifiers that name one resource only (NHID, HFR, HPR by default; AROGYA_UNIQUE_IDENTIFIERS). */
  uniqueIdentifiers: UniqueIdentifierRule[];
  /** Deepest nesting of objects and arrays a request body may have. */
  maxBodyDepth: number;
  /** Internal rest-hook endpoints allowed (AROGYA_SUBSCRIPTION_ALLOW: host names, IP addresses, CIDR blocks). */
  subscriptionAllow: AllowList;
  /** Retries of a failed rest-hook notification (doubling delays) before the Subscription is set to `error`. */
  subscriptionRetryLimit: number;
  /** First retry delay of a failed rest-hook notification (seconds); each next one doubles (jittered up to 2×). */
  subscriptionRetryDelaySeconds: number;
  /** Longest a rest-hook endpoint may take to answer (ms): beyond, the attempt failed. */
  subscriptionTimeoutMs: number;
  /** rest-hook notifications each process sends at once. */
  subscriptionConcurrency: number;
  /** The bootstrap admin client (DESIGN.md §1); when unset, one is generated at first start under dataDir. */
  adminClientId: string | undefined;
  adminClientSecret: string | undefined;
  /** Lifetime of an access token (seconds). */
  accessTokenTtlSeconds: number;
  /** How long a signing key signs before the next one takes over (seconds); old keys stay in the JWKS after. */
  signingKeyRotationSeconds: number;
  /** Longest a worker may go without re-reading revoked tokens (ms): a revocation reaches every worker within it. */
  revocationSyncMs: number;
  /** Upstream OpenID Connect provider for sign-in (all three set, or none). */
  oidcIssuer: string | undefined;
  oidcClientId: string | undefined;
  oidcClientSecret: string | undefined;
  /** The upstream provider's name on the sign-in page's button ("Sign in with …"); default: the issuer's host. */
  oidcName: string | undefined;
  /** An upstream identity without a recorded issuer + subject signs in as the user whose username is its verified e-mail. */
  oidcMatchEmail: boolean;
  /** Failed sign-ins allowed per username, and per client address, in each window. */
  signInLimitPerUser: number;
  signInLimitPerAddress: number;
  signInWindowSeconds: number;
  /**
   * How long a browser stays signed in on the authorization pages (seconds); 0 (the default): it signs in at every
   * authorization, as DESIGN.md §1.1's page order (sign-in first) has it.
   */
  signInSessionSeconds: number;
  /** `hms`: HMS resources must claim and conform to the HMS profiles (profiles/); undefined: claims are checked, none required. */
  requireProfiles: 'hms' | undefined;
  /** IG package folders (package.json + StructureDefinition/ValueSet/CodeSystem JSON) loaded at start-up. */
  igDirs: string[];
}

/** Where the authorization server's endpoints live: `/auth` beside the FHIR base's path (…/fhir → …/auth). */
export function authBaseOf(baseUrl: string): string {
  const url = new URL(baseUrl);
  url.pathname = `${url.pathname.replace(/\/[^/]*$/, '')}/auth`;
  url.search = '';
  return url.toString().replace(/\/+$/, '');
}

export class ConfigError extends Error {}

function intEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return n;
}

function boolEnv(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'on', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'off', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name} must be on or off, got "${env[name]}"`);
}

function dispenseOn(env: NodeJS.ProcessEnv): 'conclusion' | 'request' {
  const raw = (env.AROGYA_DISPENSE_ON || 'conclusion').toLowerCase();
  if (raw !== 'conclusion' && raw !== 'request')
    throw new ConfigError(`AROGYA_DISPENSE_ON must be conclusion or request, got "${env.AROGYA_DISPENSE_ON}"`);
  return raw;
}

/** `AROGYA_IMPORT_ALLOW`: comma-separated absolute URL prefixes (http, https or file), normalised. */
function urlPrefixes(env: NodeJS.ProcessEnv, name: string): string[] {
  const raw = env[name];
  if (!raw) return [];
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      let url: URL;
      try {
        url = new URL(s);
      } catch {
        throw new ConfigError(`${name}: "${s}" is not an absolute URL`);
      }
      if (!['http:', 'https:', 'file:'].includes(url.protocol)) throw new ConfigError(`${name}: "${s}" must be an http, https or file URL`);
      if (url.username || url.password || url.search || url.hash)
        throw new ConfigError(`${name}: "${s}" may not carry credentials, a query or a fragment`);
      return url.href;
    });
}

function allowList(env: NodeJS.ProcessEnv): AllowList {
  try {
    return parseAllowList(env.AROGYA_SUBSCRIPTION_ALLOW);
  } catch (e) {
    throw new ConfigError(`AROGYA_SUBSCRIPTION_ALLOW: ${(e as Error).message}`);
  }
}

function uniqueIdentifiers(env: NodeJS.ProcessEnv): UniqueIdentifierRule[] {
  try {
    return parseUniqueIdentifiers(env.AROGYA_UNIQUE_IDENTIFIERS);
  } catch (e) {
    throw new ConfigError(`AROGYA_UNIQUE_IDENTIFIERS: ${(e as Error).message}`);
  }
}

function adminClient(env: NodeJS.ProcessEnv): Pick<Config, 'adminClientId' | 'adminClientSecret'> {
  const id = env.AROGYA_ADMIN_CLIENT_ID || undefined;
  const secret = env.AROGYA_ADMIN_CLIENT_SECRET || undefined;
  if (!id !== !secret) throw new ConfigError('AROGYA_ADMIN_CLIENT_ID and AROGYA_ADMIN_CLIENT_SECRET are set together, or neither');
  if (secret && secret.length < 16) throw new ConfigError('AROGYA_ADMIN_CLIENT_SECRET must be at least 16 characters');
  if (id && !/^[A-Za-z0-9._~-]{1,128}$/.test(id))
    throw new ConfigError(`AROGYA_ADMIN_CLIENT_ID may hold letters, digits and . _ ~ - only, got "${id}"`);
  return { adminClientId: id, adminClientSecret: secret };
}

function oidc(env: NodeJS.ProcessEnv): Pick<Config, 'oidcIssuer' | 'oidcClientId' | 'oidcClientSecret'> {
  const issuer = env.AROGYA_OIDC_ISSUER || undefined;
  const clientId = env.AROGYA_OIDC_CLIENT_ID || undefined;
  const clientSecret = env.AROGYA_OIDC_CLIENT_SECRET || undefined;
  if ((issuer || clientId || clientSecret) && !(issuer && clientId && clientSecret)) {
    throw new ConfigError('AROGYA_OIDC_ISSUER, AROGYA_OIDC_CLIENT_ID and AROGYA_OIDC_CLIENT_SECRET are set together, or none');
  }
  if (issuer) {
    try {
      new URL(issuer);
    } catch {
      throw new ConfigError(`AROGYA_OIDC_ISSUER is not an absolute URL: "${issuer}"`);
    }
  }
  return { oidcIssuer: issuer, oidcClientId: clientId, oidcClientSecret: clientSecret };
}

function requireProfiles(env: NodeJS.ProcessEnv): 'hms' | undefined {
  const raw = (env.AROGYA_REQUIRE_PROFILES ?? '').trim().toLowerCase();
  if (raw === '' || raw === 'none' || raw === 'off') return undefined;
  if (raw === 'hms') return 'hms';
  throw new ConfigError(`AROGYA_REQUIRE_PROFILES must be hms or none, got "${env.AROGYA_REQUIRE_PROFILES}"`);
}

/** `AROGYA_IG_DIRS`: comma-separated folders, resolved against the working directory. */
function igDirs(env: NodeJS.ProcessEnv): string[] {
  return (env.AROGYA_IG_DIRS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => path.resolve(s));
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const databaseUrl = env.DATABASE_URL || undefined;
  const port = intEnv(env, 'PORT', 8080, 0, 65535);
  const host = env.HOST || (databaseUrl ? '0.0.0.0' : '127.0.0.1');
  const auth = (env.AROGYA_AUTH || 'smart').toLowerCase();
  if (auth !== 'smart' && auth !== 'off') throw new ConfigError(`AROGYA_AUTH must be smart or off, got "${env.AROGYA_AUTH}"`);
  const baseUrl = (env.AROGYA_BASE_URL || `http://localhost:${port}/fhir`).replace(/\/+$/, '');
  try {
    new URL(baseUrl);
  } catch {
    throw new ConfigError(`AROGYA_BASE_URL is not an absolute URL: "${baseUrl}"`);
  }
  const timeZone = env.AROGYA_TIMEZONE || 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    throw new ConfigError(`AROGYA_TIMEZONE is not an IANA time zone: "${timeZone}"`);
  }
  const cpus = os.availableParallelism();
  return {
    port,
    host,
    databaseUrl,
    dataDir: path.resolve(env.AROGYA_DATA_DIR || '.arogya'),
    baseUrl,
    auth,
    audit: boolEnv(env, 'AROGYA_AUDIT', auth === 'smart'),
    auditFlushMs: intEnv(env, 'AROGYA_AUDIT_FLUSH_MS', 50, 10, 10_000), // (audit/log.ts: why so short)
    bodyLimit: intEnv(env, 'AROGYA_BODY_LIMIT', 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    referentialIntegrity: boolEnv(env, 'AROGYA_REFERENTIAL_INTEGRITY', true),
    workers: intEnv(env, 'AROGYA_WORKERS', cpus, 1, 256),
    poolSize: intEnv(env, 'AROGYA_POOL_SIZE', 10, 1, 1000),
    timeZone,
    logLevel: env.LOG_LEVEL || 'info',
    importAllow: urlPrefixes(env, 'AROGYA_IMPORT_ALLOW'),
    bulkUploadLimit: intEnv(env, 'AROGYA_BULK_UPLOAD_LIMIT', 256 * 1024 * 1024, 1024, 64 * 1024 * 1024 * 1024),
    bulkRetentionHours: intEnv(env, 'AROGYA_BULK_RETENTION_HOURS', 24, 1, 24 * 365),
    searchParameterPollMs: intEnv(env, 'AROGYA_SEARCH_PARAMETER_POLL_MS', 2000, 100, 60_000),
    statementTimeoutMs: intEnv(env, 'AROGYA_STATEMENT_TIMEOUT_MS', 60_000, 0, 24 * 3600_000),
    poolTimeoutMs: intEnv(env, 'AROGYA_POOL_TIMEOUT_MS', 30_000, 1, 3600_000),
    readyTimeoutMs: intEnv(env, 'AROGYA_READY_TIMEOUT_MS', 2_000, 1, 600_000),
    requestTimeoutMs: intEnv(env, 'AROGYA_REQUEST_TIMEOUT_MS', 60_000, 1, 3600_000),
    connectionTimeoutMs: intEnv(env, 'AROGYA_CONNECTION_TIMEOUT_MS', 0, 0, 24 * 3600_000),
    keepAliveTimeoutMs: intEnv(env, 'AROGYA_KEEP_ALIVE_TIMEOUT_MS', 72_000, 1, 3600_000),
    maxRequestsPerSocket: intEnv(env, 'AROGYA_MAX_REQUESTS_PER_SOCKET', 0, 0, 1_000_000_000),
    maxConnections: intEnv(env, 'AROGYA_MAX_CONNECTIONS', 1024, 1, 1_000_000),
    maxBundleEntries: intEnv(env, 'AROGYA_MAX_BUNDLE_ENTRIES', 10_000, 1, 1_000_000),
    maxBodyElements: intEnv(env, 'AROGYA_MAX_BODY_ELEMENTS', 2_000_000, 100, 100_000_000),
    // A Patient with 400,000 names (2.8M index rows) held its worker for 13 s extracting them; the largest Synthea
    // resources have a few hundred.
    maxIndexValues: intEnv(env, 'AROGYA_MAX_INDEX_VALUES', 100_000, 100, 100_000_000),
    requestDeadlineMs: intEnv(env, 'AROGYA_REQUEST_DEADLINE_MS', 50_000, 0, 24 * 3600_000),
    // Every walk over a resource (validation, extraction, serialisation) recurses once per level: bounded far
    // below the stack's reach, far above what FHIR needs (a Bundle of Questionnaires nested 40 items deep).
    maxBodyDepth: intEnv(env, 'AROGYA_MAX_BODY_DEPTH', 128, 16, 1000),
    eventPollMs: intEnv(env, 'AROGYA_EVENT_POLL_MS', 250, 10, 60_000),
    eventRetryLimit: intEnv(env, 'AROGYA_EVENT_RETRY_LIMIT', 14, 0, 100),
    eventRetryDelaySeconds: intEnv(env, 'AROGYA_EVENT_RETRY_DELAY_SECONDS', 10, 1, 3600),
    eventExpireSeconds: intEnv(env, 'AROGYA_EVENT_EXPIRE_SECONDS', 300, 2, 24 * 3600),
    workflows: boolEnv(env, 'AROGYA_WORKFLOWS', true),
    subscriptionAllow: allowList(env),
    subscriptionRetryLimit: intEnv(env, 'AROGYA_SUBSCRIPTION_RETRY_LIMIT', 11, 0, 100),
    subscriptionRetryDelaySeconds: intEnv(env, 'AROGYA_SUBSCRIPTION_RETRY_DELAY_SECONDS', 60, 1, 24 * 3600),
    subscriptionTimeoutMs: intEnv(env, 'AROGYA_SUBSCRIPTION_TIMEOUT_MS', 10_000, 100, 600_000),
    subscriptionConcurrency: intEnv(env, 'AROGYA_SUBSCRIPTION_CONCURRENCY', 4, 1, 256),
    dispenseOn: dispenseOn(env),
    allowPartial: boolEnv(env, 'AROGYA_ALLOW_PARTIAL', false),
    // at most an hour: the signing keys outlive what they signed by that much (auth/services.ts ID_TOKEN_TTL_S)
    wsTokenTtlSeconds: intEnv(env, 'AROGYA_WS_TOKEN_TTL', 60, 5, 3600),
    uniqueIdentifiers: uniqueIdentifiers(env),
    ...adminClient(env),
    accessTokenTtlSeconds: intEnv(env, 'AROGYA_ACCESS_TOKEN_TTL', 300, 10, 24 * 3600),
    signingKeyRotationSeconds: intEnv(env, 'AROGYA_SIGNING_KEY_ROTATION', 7 * 24 * 3600, 60, 365 * 24 * 3600),
    revocationSyncMs: intEnv(env, 'AROGYA_REVOCATION_SYNC_MS', 1000, 0, 60_000),
    ...oidc(env),
    oidcName: env.AROGYA_OIDC_NAME || undefined,
    oidcMatchEmail: boolEnv(env, 'AROGYA_OIDC_MATCH_EMAIL', false),
    signInLimitPerUser: intEnv(env, 'AROGYA_SIGNIN_LIMIT_USER', 5, 1, 1_000_000),
    signInLimitPerAddress: intEnv(env, 'AROGYA_SIGNIN_LIMIT_ADDRESS', 50, 1, 1_000_000),
    signInWindowSeconds: intEnv(env, 'AROGYA_SIGNIN_WINDOW_SECONDS', 15 * 60, 1, 24 * 3600),
    signInSessionSeconds: intEnv(env, 'AROGYA_SIGNIN_SESSION_SECONDS', 0, 0, 30 * 24 * 3600),
    requireProfiles: requireProfiles(env),
    igDirs: igDirs(env),
  };
}
