/**
 * Building Bundles (https://hl7.org/fhir/R4/bundle.html) around stored resource text without parsing it: the
 * envelope is serialised normally and each entry's resource is spliced in as the exact stored JSON, which keeps
 * decimals lossless and costs no parse/serialise per resource. Each resource gets its `resourceType` first
 * (resourceTypeFirst: stored jsonb text has it elsewhere).
 */
import crypto from 'node:crypto';
import { resourceTypeFirst } from '../fhir/json';

export interface BundleEntry {
  fullUrl?: string;
  /** Stored JSON text of the resource. */
  resource?: string;
  search?: { mode: 'match' | 'include' | 'outcome'; score?: number };
  request?: { method: string; url: string };
  response?: { status: string; location?: string; etag?: string; lastModified?: string; outcome?: unknown };
}

export interface BundleEnvelope {
  type: 'searchset' | 'history' | 'batch-response' | 'transaction-response' | 'collection';
  total?: number;
  link?: { relation: string; url: string }[];
  lastUpdated?: string;
}

export function bundleText(envelope: BundleEnvelope, entries: BundleEntry[]): string {
  const head: Record<string, unknown> = { resourceType: 'Bundle', id: crypto.randomUUID() };
  if (envelope.lastUpdated) head.meta = { lastUpdated: envelope.lastUpdated };
  head.type = envelope.type;
  if (envelope.total !== undefined) head.total = envelope.total;
  if (envelope.link?.length) head.link = envelope.link;
  const parts = entries.map((e) => {
    const { resource, ...rest } = e;
    const fields: string[] = [];
    if (rest.fullUrl !== undefined) fields.push(`"fullUrl":${JSON.stringify(rest.fullUrl)}`);
    if (resource !== undefined) fields.push(`"resource":${resourceTypeFirst(resource)}`);
    if (rest.search) fields.push(`"search":${JSON.stringify(rest.search)}`);
    if (rest.request) fields.push(`"request":${JSON.stringify(rest.request)}`);
    if (rest.response) fields.push(`"response":${JSON.stringify(rest.response)}`);
    return `{${fields.join(',')}}`;
  });
  const headText = JSON.stringify(head);
  return parts.length ? `${headText.slice(0, -1)},"entry":[${parts.join(',')}]}` : headText;
}
