/**
 * The browsable API documentation at /docs: HTML pages generated from the same CapabilityStatement and
 * OperationDefinitions as /docs/openapi.json — the index (the system interactions and operations, security, the
 * list of resource types) and a page per resource type (/docs/[type]: its requests, operations and search
 * parameters). No script, no CDN: a stylesheet at /docs/docs.css; the pages are static for a given statement. No I/O.
 */
import type { JsonObject } from '../fhir/json';

type Json = Record<string, unknown>;

const asArray = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The HTTP request of each interaction code (`[type]` and `[id]` placeholders). */
const REQUESTS: Record<string, [string, string]> = {
  'search-type': ['GET', '/[type]?[parameters]'],
  create: ['POST', '/[type]'],
  read: ['GET', '/[type]/[id]'],
  vread: ['GET', '/[type]/[id]/_history/[vid]'],
  update: ['PUT', '/[type]/[id]'],
  patch: ['PATCH', '/[type]/[id]'],
  delete: ['DELETE', '/[type]/[id]'],
  'history-instance': ['GET', '/[type]/[id]/_history'],
  'history-type': ['GET', '/[type]/_history'],
};

function operationRows(ops: Json[], type: string | undefined, definitions: (url: string) => JsonObject | undefined, e: typeof escapeHtml): string {
  const rows: string[] = [];
  for (const op of ops) {
    const od = definitions(str(op.definition));
    const name = `$${str(op.name)}`;
    const at: string[] = [];
    if (!type) at.push(`/${name}`);
    else {
      if (od?.type === true) at.push(`/${type}/${name}`);
      if (od?.instance === true) at.push(`/${type}/[id]/${name}`);
    }
    const methods = od?.affectsState === true ? 'POST' : 'GET, POST';
    rows.push(
      `<tr><th scope="row"><code>${e(name)}</code></th><td>${at.map((a) => `<code>${e(a)}</code>`).join('<br>')}</td><td>${methods}</td><td>${e(
        str(od?.title),
      )}. <a href="${e(`/fhir/OperationDefinition/${str(od?.id)}`)}">OperationDefinition</a></td></tr>`,
    );
  }
  return rows.length
    ? `<table><caption>Operations${type ? ` on ${e(type)}` : ''}</caption><thead><tr><th scope="col">Operation</th><th scope="col">URL</th><th scope="col">Methods</th><th scope="col">What it does</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
    : '';
}

function head(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/docs/docs.css">
<link rel="icon" href="data:,">
</head>
<body>
`;
}

/** The index page of a CapabilityStatement. Links are absolute paths of this server (the FHIR base is /fhir). */
export function docsPage(cs: JsonObject, definitions: (url: string) => JsonObject | undefined): string {
  const e = escapeHtml;
  const rest = asArray(cs.rest)[0] ?? {};
  const resources = asArray(rest.resource);
  const base = str((cs.implementation as Json | undefined)?.url);
  const security = rest.security as Json | undefined;
  const sys = asArray(rest.interaction).map((i) => str(i.code));
  const sysRows = [
    ['GET', '/metadata', 'The CapabilityStatement (public)'],
    ...(sys.includes('transaction') || sys.includes('batch') ? [['POST', '/', 'A batch or transaction Bundle']] : []),
    ...(sys.includes('search-system') ? [['GET', '/?[parameters]', 'Search every resource type (_type)']] : []),
    ...(sys.includes('history-system') ? [['GET', '/_history', 'History of every resource']] : []),
  ];
  const list = resources.map((r) => `<li><a href="/docs/${e(str(r.type))}">${e(str(r.type))}</a></li>`).join('');
  const title = str(cs.title) || 'FHIR API';
  return `${head(`${title}: API documentation`)}<header><h1>${e(title)}: API documentation</h1>
<p>${e(str(cs.description))}</p>
<p>FHIR ${e(str(cs.fhirVersion))}, ${e(str((cs.software as Json | undefined)?.name))} ${e(str((cs.software as Json | undefined)?.version))}. FHIR base: <code>${e(base)}</code>. Generated from the server's <a href="/fhir/metadata">CapabilityStatement</a>; the same description as OpenAPI 3.1: <a href="/docs/openapi.json">openapi.json</a>.</p>
</header>
<main>
<nav aria-labelledby="h-contents"><h2 id="h-contents">Contents</h2><ul><li><a href="#system">The whole server</a></li><li><a href="#security">Security</a></li><li><a href="#resources">Resource types</a></li></ul></nav>
<section id="system" aria-labelledby="h-system"><h2 id="h-system">The whole server</h2>
<p>Requests and responses are <code>application/fhir+json</code>. URLs below are relative to the FHIR base.</p>
<table><caption>System interactions</caption><thead><tr><th scope="col">Request</th><th scope="col">What it does</th></tr></thead><tbody>${sysRows
    .map(([m, p, d]) => `<tr><th scope="row"><code>${m} ${e(p!)}</code></th><td>${e(d!)}</td></tr>`)
    .join('')}</tbody></table>
${operationRows(asArray(rest.operation), undefined, definitions, e)}
<p>${e(str(rest.documentation))}</p>
</section>
<section id="security" aria-labelledby="h-security"><h2 id="h-security">Security</h2>
${
  security
    ? `<p>${e(str(security.description))}</p><p>Discovery: <code>${e(base)}/.well-known/smart-configuration</code>. This documentation and <code>/metadata</code> need no token.</p>`
    : '<p>Authorization is off on this server (AROGYA_AUTH=off): every request is anonymous and unrestricted.</p>'
}
</section>
<section id="resources" aria-labelledby="h-resources"><h2 id="h-resources">Resource types</h2>
<p>${resources.length} resource types; each page lists the type's requests, operations and search parameters.</p>
<ul class="types">${list}</ul>
</section>
</main>
</body>
</html>
`;
}

/** The page of one resource type of the statement, or undefined when it has no such type. */
export function resourcePage(cs: JsonObject, definitions: (url: string) => JsonObject | undefined, type: string): string | undefined {
  const e = escapeHtml;
  const rest = asArray(cs.rest)[0] ?? {};
  const r = asArray(rest.resource).find((x) => x.type === type);
  if (!r) return undefined;
  const interactions = asArray(r.interaction)
    .map((i) => REQUESTS[str(i.code)])
    .filter((x): x is [string, string] => x !== undefined)
    .map(([m, p]) => `<li><code>${m} ${e(p.replace('[type]', type))}</code></li>`)
    .join('');
  const params = asArray(r.searchParam)
    .map((p) => `<tr><th scope="row"><code>${e(str(p.name))}</code></th><td>${e(str(p.type))}</td><td>${e(str(p.documentation))}</td></tr>`)
    .join('');
  const title = str(cs.title) || 'FHIR API';
  return `${head(`${type} — ${title} API documentation`)}<header><p><a href="/docs">${e(title)}: API documentation</a></p><h1>${e(type)}</h1>
<p><a href="https://hl7.org/fhir/R4/${e(type.toLowerCase())}.html">The R4 definition of ${e(type)}</a>. Requests are relative to the FHIR base and exchange <code>application/fhir+json</code>.</p></header>
<main>
<section aria-labelledby="h-requests"><h2 id="h-requests">Requests</h2><ul class="requests">${interactions}</ul>
<p>Conditional create (<code>If-None-Exist</code>), update and delete (<code>[type]?[parameters]</code>), and version-aware updates (<code>If-Match</code>) are supported.</p></section>
<section aria-labelledby="h-operations"><h2 id="h-operations">Operations</h2>${operationRows(asArray(r.operation), type, definitions, e) || '<p>None.</p>'}</section>
<section aria-labelledby="h-search"><h2 id="h-search">Search parameters</h2>
<table><caption>Search parameters of ${e(type)}</caption><thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Modifiers, prefixes</th></tr></thead><tbody>${params}</tbody></table>
<p>Every search also takes <code>_count</code>, <code>_sort</code>, <code>_include</code>, <code>_revinclude</code>, <code>_summary</code>, <code>_elements</code>, <code>_total</code> and <code>_contained</code>.</p></section>
</main>
</body>
</html>
`;
}

export const DOCS_CSS = `body{font-family:system-ui,sans-serif;line-height:1.5;margin:0 auto;max-width:70rem;padding:0 1rem;color:#1a1a1a;background:#fff}
a{color:#0b4f9c}a:focus,summary:focus{outline:3px solid #0b4f9c;outline-offset:2px}
code{font-family:ui-monospace,monospace;font-size:.95em}
table{border-collapse:collapse;margin:1rem 0;width:100%}caption{text-align:left;font-weight:600}
th,td{border:1px solid #999;padding:.25rem .5rem;text-align:left;vertical-align:top}
ul.types{columns:14rem;padding-left:1.2rem}
`;
