/**
 * Narrative XHTML checks: Narrative.div must be a well-formed `<div xmlns="http://www.w3.org/1999/xhtml">` that
 * uses only the "basic html formatting elements and attributes" of invariant txt-1, has non-whitespace content
 * (txt-2), and carries no active or external content (no script, forms, frames, objects, event attributes,
 * `javascript:` URLs, externally loaded images or style URLs).
 * https://hl7.org/fhir/R4/narrative.html#Narrative and the txt-1/txt-2 definitions in narrative-definitions.html
 *
 * The allowed element and attribute names are those of the normative txt-1 XPath in the R4 Narrative
 * StructureDefinition (HTML 4.0 chapters 7-11 and 15, `a` and `img`), plus `xml:lang`. Only the five XML entities
 * and numeric character references are accepted: the narrative is general XML, with no DTD for HTML entities.
 *
 * Images: narrative.html warns that images not contained in the resource can track who reads it, so an `<img src>`
 * (or a CSS `url()`) may be `#id` (a contained resource), a `data:` URL, or a relative URL on this server; an
 * absolute URL to elsewhere is refused. Links (`<a href>`) may point anywhere except `javascript:`/`vbscript:`.
 *
 * The scanner is a small, strict, single-pass XML tokenizer (no DOM is built); it stops at the first
 * well-formedness error.
 */

export interface XhtmlProblem {
  /** `structure`: not well-formed / not a div; `invariant`: txt-1/txt-2; `value`: unsafe or external URL. */
  code: 'structure' | 'invariant' | 'value';
  message: string;
}

export const XHTML_NS = 'http://www.w3.org/1999/xhtml';

const ALLOWED_ELEMENTS = new Set([
  'a',
  'abbr',
  'acronym',
  'b',
  'big',
  'blockquote',
  'br',
  'caption',
  'cite',
  'code',
  'col',
  'colgroup',
  'dd',
  'dfn',
  'div',
  'dl',
  'dt',
  'em',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'hr',
  'i',
  'img',
  'li',
  'ol',
  'p',
  'pre',
  'q',
  'samp',
  'small',
  'span',
  'strong',
  'sub',
  'sup',
  'table',
  'tbody',
  'td',
  'tfoot',
  'th',
  'thead',
  'tr',
  'tt',
  'ul',
  'var',
]);

// The txt-1 XPath list, plus xml:lang: the XML language attribute carries no content or behaviour, and
// multilingual narratives (narrative.html#lang) need it.
const ALLOWED_ATTRIBUTES = new Set([
  'xml:lang',
  'abbr',
  'accesskey',
  'align',
  'alt',
  'axis',
  'bgcolor',
  'border',
  'cellhalign',
  'cellpadding',
  'cellspacing',
  'cellvalign',
  'char',
  'charoff',
  'charset',
  'cite',
  'class',
  'colspan',
  'compact',
  'coords',
  'dir',
  'frame',
  'headers',
  'height',
  'href',
  'hreflang',
  'hspace',
  'id',
  'lang',
  'longdesc',
  'name',
  'nowrap',
  'rel',
  'rev',
  'rowspan',
  'rules',
  'scope',
  'shape',
  'span',
  'src',
  'start',
  'style',
  'summary',
  'tabindex',
  'title',
  'type',
  'valign',
  'value',
  'vspace',
  'width',
]);

/** Attributes whose value is a URL that a browser may follow or load. */
const URL_ATTRIBUTES = new Set(['href', 'src', 'cite', 'longdesc']);

/** XML name characters, restricted to ASCII: every allowed HTML element and attribute name is ASCII. */
function isNameStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 /* _ */ || c === 58; /* : */
}
function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 48 && c <= 57) || c === 45 /* - */ || c === 46; /* . */
}
const MAX_PROBLEMS = 10;

class NotWellFormed extends Error {}

/** Checks one Narrative.div string; returns the problems found (empty when it is acceptable). */
export function checkXhtml(text: string): XhtmlProblem[] {
  const scanner = new Scanner(text);
  try {
    scanner.document();
  } catch (e) {
    if (!(e instanceof NotWellFormed)) throw e;
    const malformed: XhtmlProblem = { code: 'structure', message: `The narrative is not well-formed XHTML: ${e.message}` };
    return [malformed, ...scanner.problems].slice(0, MAX_PROBLEMS);
  }
  if (!scanner.hasContent) {
    scanner.report('invariant', 'The narrative has no content: it needs some non-whitespace text or an image (txt-2)');
  }
  return scanner.problems;
}

class Scanner {
  pos = 0;
  problems: XhtmlProblem[] = [];
  hasContent = false;
  private readonly seen = new Set<string>();

  constructor(private readonly s: string) {}

  report(code: XhtmlProblem['code'], message: string): void {
    if (this.problems.length >= MAX_PROBLEMS || this.seen.has(message)) return;
    this.seen.add(message);
    this.problems.push({ code, message });
  }

  private fail(message: string): never {
    throw new NotWellFormed(`${message} (at offset ${this.pos})`);
  }

  document(): void {
    this.skipSpace();
    if (!this.s.startsWith('<div', this.pos) || isNameChar(this.s.charCodeAt(this.pos + 4))) {
      this.fail('the narrative must be a single <div> element');
    }
    this.element(true);
    this.skipSpace();
    if (this.pos < this.s.length) this.fail('content after the closing </div>');
  }

  private skipSpace(): void {
    while (this.pos < this.s.length) {
      const c = this.s.charCodeAt(this.pos);
      if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
      this.pos++;
    }
  }

  private name(): string {
    const start = this.pos;
    if (!isNameStart(this.s.charCodeAt(this.pos))) this.fail('expected a name');
    this.pos++;
    while (this.pos < this.s.length && isNameChar(this.s.charCodeAt(this.pos))) this.pos++;
    return this.s.slice(start, this.pos);
  }

  /** An element starting at `<`, through its end tag. */
  private element(isRoot: boolean): void {
    this.pos++; // '<'
    const name = this.name();
    const attributes: [string, string][] = [];
    for (;;) {
      const before = this.pos;
      this.skipSpace();
      const c = this.s.charAt(this.pos);
      if (c === '>' || c === '/') break;
      if (this.pos === before) this.fail(`expected whitespace before an attribute of <${name}>`);
      const attr = this.name();
      this.skipSpace();
      if (this.s.charAt(this.pos) !== '=') this.fail(`attribute ${attr} of <${name}> has no value`);
      this.pos++;
      this.skipSpace();
      if (attributes.some(([a]) => a === attr)) this.fail(`duplicate attribute ${attr} on <${name}>`);
      attributes.push([attr, this.attributeValue()]);
    }
    this.checkElement(name, attributes, isRoot);
    if (this.s.startsWith('/>', this.pos)) {
      this.pos += 2;
      return;
    }
    if (this.s.charAt(this.pos) !== '>') this.fail(`unterminated start tag <${name}>`);
    this.pos++;
    this.content(name);
  }

  private attributeValue(): string {
    const quote = this.s.charAt(this.pos);
    if (quote !== '"' && quote !== "'") this.fail('attribute values must be quoted');
    this.pos++;
    const end = this.s.indexOf(quote, this.pos);
    if (end < 0) this.fail('unterminated attribute value');
    const raw = this.s.slice(this.pos, end);
    if (raw.includes('<')) this.fail("'<' is not allowed in an attribute value");
    this.pos = end + 1;
    return this.decode(raw);
  }

  /** Element content up to and including the end tag of `name`. */
  private content(name: string): void {
    const s = this.s;
    for (;;) {
      const lt = s.indexOf('<', this.pos);
      if (lt < 0) this.fail(`<${name}> is not closed`);
      if (lt > this.pos) this.text(s.slice(this.pos, lt));
      this.pos = lt;
      if (s.startsWith('</', lt)) {
        this.pos += 2;
        const end = this.name();
        this.skipSpace();
        if (end !== name) this.fail(`</${end}> does not close <${name}>`);
        if (s.charAt(this.pos) !== '>') this.fail(`unterminated end tag </${end}>`);
        this.pos++;
        return;
      }
      if (s.startsWith('<!--', lt)) {
        const close = s.indexOf('-->', lt + 4);
        if (close < 0) this.fail('unterminated comment');
        if (s.slice(lt + 4, close).includes('--')) this.fail("'--' inside a comment");
        this.pos = close + 3;
        continue;
      }
      if (s.startsWith('<![CDATA[', lt)) {
        const close = s.indexOf(']]>', lt + 9);
        if (close < 0) this.fail('unterminated CDATA section');
        this.markText(s.slice(lt + 9, close));
        this.checkChars(s.slice(lt + 9, close));
        this.pos = close + 3;
        continue;
      }
      if (s.startsWith('<!', lt) || s.startsWith('<?', lt)) {
        this.fail('declarations and processing instructions are not allowed in a narrative');
      }
      this.element(false);
    }
  }

  private text(raw: string): void {
    if (raw.includes(']]>')) this.fail("']]>' is not allowed in text");
    this.markText(this.decode(raw));
  }

  private markText(text: string): void {
    // XPath normalize-space(): only XML whitespace counts as blank (txt-2).
    if (!this.hasContent && !/^[ \t\n\r]*$/.test(text)) this.hasContent = true;
  }

  /** Resolves character and entity references, rejecting anything XML does not predefine. */
  private decode(raw: string): string {
    this.checkChars(raw);
    if (!raw.includes('&')) return raw;
    return raw.replace(/&([^;&]*)(;?)/g, (_m, ref: string, semi: string) => {
      if (!semi) this.fail(`'&' must start an entity or character reference`);
      switch (ref) {
        case 'lt':
          return '<';
        case 'gt':
          return '>';
        case 'amp':
          return '&';
        case 'quot':
          return '"';
        case 'apos':
          return "'";
      }
      const m = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(ref);
      if (!m) this.fail(`unknown entity &${ref}; (only the XML entities and numeric references are allowed)`);
      const code = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2], 10);
      if (!isXmlChar(code)) this.fail(`&${ref}; is not a legal XML character`);
      return String.fromCodePoint(code);
    });
  }

  private checkChars(raw: string): void {
    // XML 1.0 Char: no C0 controls except tab/LF/CR, no lone surrogates, no U+FFFE/U+FFFF.
    const bad = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(
      raw,
    );
    if (bad) this.fail(`illegal XML character U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`);
  }

  private checkElement(name: string, attributes: [string, string][], isRoot: boolean): void {
    if (name.includes(':')) {
      this.report('structure', `Element <${name}>: only the XHTML default namespace is allowed in a narrative`);
    } else if (!ALLOWED_ELEMENTS.has(name)) {
      this.report('invariant', `Element <${name}> is not allowed in a narrative (txt-1)`);
    }
    const xmlns = attributes.find(([a]) => a === 'xmlns')?.[1];
    if (isRoot && xmlns !== XHTML_NS) {
      this.report('structure', `The narrative <div> must declare xmlns="${XHTML_NS}"`);
    } else if (xmlns !== undefined && xmlns !== XHTML_NS) {
      this.report('structure', `Element <${name}> declares the namespace ${xmlns}; only XHTML is allowed`);
    }
    for (const [attr, value] of attributes) {
      if (attr === 'xmlns') continue;
      if (/^on/i.test(attr)) {
        this.report('invariant', `Event attribute ${attr} on <${name}> is not allowed in a narrative (txt-1)`);
        continue;
      }
      if (!ALLOWED_ATTRIBUTES.has(attr)) {
        this.report('invariant', `Attribute ${attr} on <${name}> is not allowed in a narrative (txt-1)`);
        continue;
      }
      if (URL_ATTRIBUTES.has(attr)) this.checkUrl(name, attr, value);
      else if (attr === 'style') this.checkStyle(name, value);
    }
    if (name === 'img' && attributes.some(([a]) => a === 'src')) this.hasContent = true;
  }

  private checkUrl(element: string, attr: string, value: string): void {
    // Browsers ignore whitespace and control characters inside a scheme ("java\tscript:").
    const compact = value.replace(/[\u0000-\u0020]/g, '').toLowerCase();
    const scheme = /^([a-z][a-z0-9+.-]*):/.exec(compact)?.[1];
    if (scheme === 'javascript' || scheme === 'vbscript') {
      this.report('value', `<${element} ${attr}>: ${scheme}: URLs are not allowed in a narrative (active content)`);
      return;
    }
    if (element === 'img' && attr === 'src' && isExternal(scheme, compact)) {
      this.report(
        'value',
        `<img src="${clip(value)}">: a narrative image must be contained in the resource ('#id' or a data: URL), not loaded from elsewhere`,
      );
    }
  }

  private checkStyle(element: string, value: string): void {
    const lower = value.toLowerCase();
    if (lower.includes('expression(') || lower.includes('javascript:')) {
      this.report('value', `<${element} style>: script in a style attribute is not allowed in a narrative`);
    }
    for (const m of lower.matchAll(/url\(\s*['"]?([^'")]*)/g)) {
      const url = m[1].replace(/[\u0000-\u0020]/g, '');
      if (isExternal(/^([a-z][a-z0-9+.-]*):/.exec(url)?.[1], url)) {
        this.report('value', `<${element} style>: external content (${clip(m[1])}) is not allowed in a narrative`);
      }
    }
    if (lower.includes('@import')) this.report('value', `<${element} style>: @import is not allowed in a narrative`);
  }
}

/** A URL that makes the reader fetch something from elsewhere: any absolute URL other than data:, or `//host`. */
function isExternal(scheme: string | undefined, url: string): boolean {
  if (scheme) return scheme !== 'data';
  return url.startsWith('//');
}

function isXmlChar(c: number): boolean {
  return c === 9 || c === 10 || c === 13 || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

function clip(s: string): string {
  return s.length > 50 ? `${s.slice(0, 50)}…` : s;
}
