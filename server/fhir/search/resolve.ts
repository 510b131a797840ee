/** Search parameter codes → the active parameter definitions of the types searched. */
import { SearchParameterNotReady, UnsupportedParameter } from './errors';
import { searchParam, UNSUPPORTED_PARAMS, type ActiveSearchParam } from './registry';

/** Refuses a custom parameter that is not active yet. */
export function ready(p: ActiveSearchParam, name: string): ActiveSearchParam {
  if (p.custom && p.custom.status !== 'active') throw new SearchParameterNotReady(p, name);
  return p;
}

/** The parameter `code` on every type of `types`, which must agree on its type. */
export function resolveParam(types: string[], code: string, name: string): ActiveSearchParam {
  let found: ActiveSearchParam | undefined;
  for (const t of types) {
    const p = searchParam(t, code);
    if (!p) {
      if (UNSUPPORTED_PARAMS.has(code)) throw new UnsupportedParameter(`Search parameter '${code}' is not supported by this server`, name);
      throw new UnsupportedParameter(
        types.length === 1
          ? `Unknown search parameter '${code}' for ${t}`
          : `Search parameter '${code}' is not defined for ${t} (all types searched must share it)`,
        name,
      );
    }
    ready(p, name);
    if (found && found.type !== p.type)
      throw new UnsupportedParameter(`Search parameter '${code}' has different types across ${types.join(', ')}`, name);
    if (!found) found = p;
    else if (p.target) found = { ...found, target: [...new Set([...(found.target ?? []), ...p.target])] };
  }
  return found!;
}
