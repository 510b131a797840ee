/**
 * read — https://hl7.org/fhir/R4/http.html#read, with conditional read (http.html#cread): If-None-Match and
 * If-Modified-Since answer 304 when the client's copy is current. Deleted → 410, unknown → 404. The HTTP route and
 * a bundle's GET entry (batch-transaction.ts) both run `readResource`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Caller } from '../repository/caller';
import type { Reads } from '../repository/reads';
import type { StoredVersion } from '../repository/versions';
import { callerOf } from './caller';
import type { RestContext } from './context';
import { sendResource, versionHeaders } from './http';

export interface ReadConditions {
  ifNoneMatch?: string;
  ifModifiedSince?: string;
}

/** http.html#cread: whether the client's copy (its ETag, else its date) is still the current version. */
export function notModified(v: StoredVersion, cond: ReadConditions): boolean {
  if (cond.ifNoneMatch !== undefined) {
    return cond.ifNoneMatch.split(',').some((t) => t.trim() === '*' || t.trim().replace(/^W\//, '') === `"${v.versionId}"`);
  }
  if (cond.ifModifiedSince === undefined) return false;
  const since = Date.parse(cond.ifModifiedSince);
  // HTTP dates have second precision: the resource is unmodified when its lastUpdated is within that second.
  return !Number.isNaN(since) && Math.floor(Date.parse(v.lastUpdated) / 1000) * 1000 <= since;
}

/** The read interaction without HTTP: the current version, and whether the client's copy is current. */
export async function readResource(
  reads: Reads,
  caller: Caller,
  type: string,
  id: string,
  cond: ReadConditions,
): Promise<{ version: StoredVersion; notModified: boolean }> {
  const version = await reads.read(caller, type, id);
  return { version, notModified: notModified(version, cond) };
}

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
};

export async function read(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type: string, id: string): Promise<FastifyReply> {
  const cond = { ifNoneMatch: header(req, 'if-none-match'), ifModifiedSince: header(req, 'if-modified-since') };
  const r = await readResource(ctx.repo, callerOf(req), type, id, cond);
  versionHeaders(reply, r.version);
  if (r.notModified) return reply.code(304).send();
  return sendResource(req, reply, 200, r.version.content!);
}
