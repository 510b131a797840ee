/**
 * RFC 6901 JSON Pointer: parsing and array-index rules, as used by JSON Patch (RFC 6902).
 * https://www.rfc-editor.org/rfc/rfc6901
 */

/** A pointer that is not valid RFC 6901 syntax (independent of any document). */
export class PointerSyntaxError extends Error {}

/**
 * Splits a pointer into its unescaped reference tokens. `""` is the whole document (no tokens); anything else
 * starts with `/`. `~1` decodes to `/` and `~0` to `~`, in that order (§4), so `~01` is the literal `~1`.
 */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PointerSyntaxError(`JSON Pointer "${pointer}" must be empty or start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~(?![01])/.test(token)) throw new PointerSyntaxError(`JSON Pointer "${pointer}" has a "~" not followed by 0 or 1`);
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

/** Formats tokens back into a pointer (for messages). */
export function formatPointer(tokens: readonly string[]): string {
  return tokens.map((t) => `/${t.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/**
 * The array index a token denotes: `0` or a digit string without leading zeros (§4), or `-` ("past the end",
 * meaningful to `add` only). Returns a message instead when the token cannot index an array.
 */
export function arrayIndex(token: string, length: number, allowEnd: boolean): number | { error: string } {
  if (token === '-') {
    return allowEnd ? length : { error: `"-" (past the end) is only allowed as the target of add` };
  }
  if (!/^(0|[1-9][0-9]*)$/.test(token)) {
    return {
      error: /^0[0-9]+$/.test(token) ? `array index "${token}" has leading zeros` : `"${token}" is not an array index`,
    };
  }
  const index = Number(token);
  const max = allowEnd ? length : length - 1;
  if (index > max) return { error: `array index ${index} is out of range (array length ${length})` };
  return index;
}
