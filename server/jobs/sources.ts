/**
 * Where `$import` may read its input files from: the server's own upload endpoint (`POST /fhir/_bulk/upload`),
 * or a location an administrator allow-listed with AROGYA_IMPORT_ALLOW (http, https or file URL prefixes) —
 * never an arbitrary URL, which would let any client make the server fetch from its internal network (SSRF)
 * or read its files. Redirects are refused for the same reason.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config';
import { badRequest } from '../fhir/outcome';
import { uploadFile } from './files';

export type ImportSource = { kind: 'file'; file: string } | { kind: 'http'; url: string };

function parseUrl(raw: string): URL | undefined {
  try {
    return new URL(raw);
  } catch {
    return undefined;
  }
}

function underPrefix(url: URL, prefix: URL): boolean {
  if (url.protocol !== prefix.protocol || url.username || url.password) return false;
  if (url.protocol === 'file:') {
    const file = path.resolve(fileURLToPath(url));
    const base = path.resolve(fileURLToPath(prefix));
    return prefix.pathname.endsWith('/') ? file.startsWith(base.endsWith(path.sep) ? base : base + path.sep) : file.startsWith(base);
  }
  return url.host === prefix.host && url.pathname.startsWith(prefix.pathname);
}

/** Resolves an input URL to something we may read, or throws 400 saying why not. */
export function resolveSource(config: Config, raw: string): ImportSource {
  const url = parseUrl(raw);
  if (!url) throw badRequest(`$import input url '${raw}' is not an absolute URL`);
  const uploads = parseUrl(`${config.baseUrl}/_bulk/upload/`)!;
  if (url.origin === uploads.origin && url.pathname.startsWith(uploads.pathname)) {
    const file = uploadFile(config.dataDir, url.pathname.slice(uploads.pathname.length));
    if (!file || url.search || !fs.existsSync(file)) throw badRequest(`$import input '${raw}' is not a known upload of this server`);
    return { kind: 'file', file };
  }
  const prefix = config.importAllow.map((p) => new URL(p)).find((p) => underPrefix(url, p));
  if (!prefix) {
    throw badRequest(
      `$import input '${raw}' is neither an upload of this server (POST ${config.baseUrl}/_bulk/upload) nor under a location allowed by AROGYA_IMPORT_ALLOW`,
    );
  }
  return url.protocol === 'file:' ? { kind: 'file', file: path.resolve(fileURLToPath(url)) } : { kind: 'http', url: url.href };
}

export async function openSource(src: ImportSource, signal: AbortSignal): Promise<Readable> {
  if (src.kind === 'file') {
    const stream = fs.createReadStream(src.file);
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    return stream;
  }
  const res = await fetch(src.url, { redirect: 'error', signal, headers: { accept: 'application/fhir+ndjson' } });
  if (!res.ok || !res.body) throw new Error(`GET ${src.url} answered ${res.status}`);
  return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
}
