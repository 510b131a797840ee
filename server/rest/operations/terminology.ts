/**
 * Terminology operations over the code systems and value sets this server has — the R4 core ones, those of
 * profiles/ and AROGYA_IG_DIRS, and stored ValueSet/CodeSystem resources — all through the one expansion engine
 * (fhir/terminology/expand.ts) that required bindings and `:in` use.
 * - ValueSet/$expand: https://hl7.org/fhir/R4/valueset-operation-expand.html (url or instance; filter, count, offset)
 * - ValueSet/$validate-code: https://hl7.org/fhir/R4/valueset-operation-validate-code.html
 * - CodeSystem/$lookup: https://hl7.org/fhir/R4/codesystem-operation-lookup.html
 * Parameters come from the query string or a POST Parameters body.
 */
import crypto from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isJsonObject, parseStoredJson, type JsonObject, type JsonValue } from '../../fhir/json';
import { badRequest, notFound, notSupported } from '../../fhir/outcome';
import {
  expandDefinition,
  IndexedExpansion,
  lookupCode,
  type Definition,
  type Expansion,
  type TerminologySource,
} from '../../fhir/terminology/expand';
import { terminologyFailure } from '../../repository/search/terminology';
import { resourceBody } from '../body';
import { callerOf } from '../caller';
import type { RestContext } from '../context';
import { sendJson } from '../http';

interface Params {
  get(name: string): JsonValue | undefined;
}

/** Query parameters and, for POST, a Parameters body (its values win). */
function params(req: FastifyRequest): Params {
  const q = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
  const body: Record<string, JsonValue> = {};
  if (req.method === 'POST') {
    const b = resourceBody(req);
    if (!isJsonObject(b) || b.resourceType !== 'Parameters') throw badRequest('The body of a terminology operation must be a Parameters resource');
    for (const p of Array.isArray(b.parameter) ? b.parameter : []) {
      if (!isJsonObject(p) || typeof p.name !== 'string') continue;
      const key = Object.keys(p).find((k) => k.startsWith('value') || k === 'resource');
      if (key) body[p.name] = p[key];
    }
  }
  return { get: (name) => body[name] ?? q.get(name) ?? undefined };
}

function str(p: Params, name: string): string | undefined {
  const v = p.get(name);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw badRequest(`Parameter '${name}' must be a string`, name);
  return v;
}

function nonNegative(p: Params, name: string): number | undefined {
  const v = p.get(name);
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < 0) throw badRequest(`Parameter '${name}' must be a non-negative integer`, name);
  return n;
}

/** The value set of the request (instance, `url`, or an inline `valueSet`) and a source for what it needs. */
async function valueSetOf(
  ctx: RestContext,
  req: FastifyRequest,
  p: Params,
  id: string | undefined,
): Promise<{ vs: Definition; source: TerminologySource }> {
  const registry = ctx.repo.options.profiles?.terminology;
  if (id) {
    let vs: Definition | undefined;
    try {
      vs = parseStoredJson((await ctx.repo.read(callerOf(req), 'ValueSet', id)).content!);
    } catch (e) {
      vs = registry?.valueSetById(id);
      if (!vs) throw e;
    }
    return { vs, source: await ctx.repo.terminologySource(typeof vs.url === 'string' ? vs.url : `ValueSet/${id}`) };
  }
  const inline = p.get('valueSet');
  if (isJsonObject(inline)) {
    const source = await ctx.repo.terminologySource('');
    return { vs: inline, source };
  }
  const url = str(p, 'url');
  if (!url) throw badRequest('Name the value set: [base]/ValueSet/[id]/$op, or the url parameter', 'url');
  const source = await ctx.repo.terminologySource(url);
  const vs = source.valueSet(url);
  if (!vs) throw notFound(`ValueSet '${url}' is not known to this server (neither stored nor loaded)`);
  return { vs, source };
}

function expand(vs: Definition, source: TerminologySource): Expansion {
  try {
    return expandDefinition(vs, source);
  } catch (e) {
    throw terminologyFailure(e);
  }
}

export async function expandOperation(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, id?: string): Promise<FastifyReply> {
  const p = params(req);
  const { vs, source } = await valueSetOf(ctx, req, p, id);
  const filter = str(p, 'filter')?.toLowerCase();
  const offset = nonNegative(p, 'offset') ?? 0;
  const count = nonNegative(p, 'count');
  const expansion = expand(vs, source);
  if (expansion.openSystems.length) {
    throw notSupported(
      `ValueSet ${vs.url ?? id} includes all of ${expansion.openSystems.join(', ')}, which this server does not hold, so it cannot be expanded`,
    );
  }
  const matching = filter
    ? expansion.concepts.filter((c) => c.code.toLowerCase().includes(filter) || (c.display ?? '').toLowerCase().includes(filter))
    : expansion.concepts;
  const page = matching.slice(offset, count === undefined ? undefined : offset + count);
  const parameter: JsonObject[] = [];
  if (filter !== undefined) parameter.push({ name: 'filter', valueString: str(p, 'filter')! });
  if (count !== undefined) parameter.push({ name: 'count', valueInteger: count });
  if (offset) parameter.push({ name: 'offset', valueInteger: offset });
  const out: JsonObject = { resourceType: 'ValueSet' };
  for (const k of ['id', 'url', 'version', 'name', 'title', 'status']) if (typeof vs[k] === 'string') out[k] = vs[k];
  out.expansion = {
    identifier: `urn:uuid:${crypto.randomUUID()}`,
    timestamp: new Date().toISOString(),
    total: matching.length,
    offset,
    ...(parameter.length ? { parameter } : {}),
    contains: page.map((c) => ({ system: c.system, code: c.code, ...(c.display ? { display: c.display } : {}) })),
  };
  return sendJson(req, reply, 200, out);
}

/** The codings to check: code + system (+ display), a coding, or a codeableConcept. */
function codingsOf(p: Params): { system?: string; code: string; display?: string }[] {
  const code = str(p, 'code');
  if (code !== undefined) return [{ system: str(p, 'system'), code, display: str(p, 'display') }];
  const coding = p.get('coding');
  const list = isJsonObject(coding) ? [coding] : [];
  const cc = p.get('codeableConcept');
  if (isJsonObject(cc) && Array.isArray(cc.coding)) list.push(...cc.coding.filter(isJsonObject));
  const out = list
    .filter((c) => typeof c.code === 'string')
    .map((c) => ({
      system: typeof c.system === 'string' ? c.system : undefined,
      code: c.code as string,
      display: typeof c.display === 'string' ? c.display : undefined,
    }));
  if (!out.length) throw badRequest('$validate-code needs code (with system), coding or codeableConcept', 'code');
  return out;
}

export async function validateCodeOperation(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, id?: string): Promise<FastifyReply> {
  const p = params(req);
  const codings = codingsOf(p);
  const { vs, source } = await valueSetOf(ctx, req, p, id);
  const members = new IndexedExpansion(expand(vs, source));
  let answer: JsonObject[] = [{ name: 'result', valueBoolean: false }];
  const shown = codings.map((c) => (c.system ? `${c.system}|${c.code}` : c.code)).join(', ');
  let message = `${shown} is not in the value set ${vs.url ?? id}`;
  for (const c of codings) {
    const hit = members.check(c.system, c.code);
    if (!hit.result) continue;
    answer = [{ name: 'result', valueBoolean: true }];
    if (hit.display) answer.push({ name: 'display', valueString: hit.display });
    message = '';
    if (hit.unverified) message = `${c.system} is included whole but not held by this server: the code was not verified`;
    else if (c.display && hit.display && c.display !== hit.display) message = `The display '${c.display}' is not the code's display '${hit.display}'`;
    break;
  }
  if (message) answer.push({ name: 'message', valueString: message });
  return sendJson(req, reply, 200, { resourceType: 'Parameters', parameter: answer });
}

export async function lookupOperation(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, id?: string): Promise<FastifyReply> {
  const p = params(req);
  const coding = p.get('coding');
  const code = str(p, 'code') ?? (isJsonObject(coding) && typeof coding.code === 'string' ? coding.code : undefined);
  const system = str(p, 'system') ?? (isJsonObject(coding) && typeof coding.system === 'string' ? coding.system : undefined);
  if (!code) throw badRequest('$lookup needs code (with system) or coding', 'code');
  let cs: Definition | undefined;
  if (id) {
    try {
      cs = parseStoredJson((await ctx.repo.read(callerOf(req), 'CodeSystem', id)).content!);
    } catch (e) {
      cs = ctx.repo.options.profiles?.terminology.codeSystemById(id);
      if (!cs) throw e;
    }
  } else {
    if (!system) throw badRequest('$lookup needs the system of the code', 'system');
    cs = await ctx.repo.codeSystem(system);
    if (!cs) throw notFound(`CodeSystem '${system}' is not known to this server`);
  }
  const found = lookupCode(cs, code);
  if (!found) throw notFound(`Code '${code}' is not in the code system ${cs.url ?? id}`);
  const out: JsonObject[] = [{ name: 'name', valueString: found.name }];
  if (found.version) out.push({ name: 'version', valueString: found.version });
  if (found.display) out.push({ name: 'display', valueString: found.display });
  for (const parent of found.parents)
    out.push({
      name: 'property',
      part: [
        { name: 'code', valueCode: 'parent' },
        { name: 'value', valueCode: parent },
      ],
    });
  for (const child of found.children)
    out.push({
      name: 'property',
      part: [
        { name: 'code', valueCode: 'child' },
        { name: 'value', valueCode: child },
      ],
    });
  return sendJson(req, reply, 200, { resourceType: 'Parameters', parameter: out });
}
