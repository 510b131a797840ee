/**
 * Environment → typed, validated Config (DESIGN.md §1 is the contract for these names).
 * Every setting is read here and nowhere else, so the README's table can be checked against one file.
 */
import os from 'node:os';
import path from 'node:path';

export interface Config {
  port: number;
  host: string;
  /** External PostgreSQL; when undefined the embedded database is started under dataDir. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** Public FHIR base, no trailing slash, e.g. http://localhost:8080/fhir */
  baseUrl: string;
  auth: 'smart' | 'off';
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
      if (url.username || url.password || url.search || url.hash) throw new ConfigError(`${name}: "${s}" may not carry credentials, a query or a fragment`);
      return url.href;
    });
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
  };
}
