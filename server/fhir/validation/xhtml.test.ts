/** The narrative XHTML checker on its own: well-formedness, the txt-1/txt-2 rules, and active/external content. */
import { checkXhtml } from './xhtml';

const div = (html: string, attrs = '') => `<div xmlns="http://www.w3.org/1999/xhtml"${attrs}>${html}</div>`;
const codes = (text: string) => checkXhtml(text).map((p) => p.code);

describe('narrative XHTML', () => {
  it.each([
    ['text', div('Hello')],
    ['nested formatting', div('<p>A <b>bold</b> <i>move</i><br/>next</p><ul><li>one</li></ul>')],
    [
      'a table with spans',
      div('<table border="1"><thead><tr><th colspan="2">h</th></tr></thead><tbody><tr><td rowspan="1">x</td></tr></tbody></table>'),
    ],
    ['anchors by name and href', div('<a name="top"> </a><a href="http://hl7.org/fhir">spec</a> <a href="#top">up</a>')],
    ['an image alone (txt-2 accepts it as content)', div('<img src="#photo" alt="photo"/>')],
    ['a data: image', div('<img src="data:image/png;base64,iVBORw0KGgo="/>')],
    ['a relative image', div('<img src="tbl_spacer.png"/>')],
    ['XML entities and character references', div('&lt;&gt;&amp;&quot;&apos; &#160;&#x1F600;')],
    ['comments and CDATA', div('<!-- note --><p><![CDATA[a < b]]></p>')],
    ['single-quoted attributes and whitespace around =', div("<p class = 'x'>y</p>")],
    ['a language attribute', div('नमस्ते', ' lang="hi" xml:lang="hi"')],
    ['leading and trailing whitespace around the div', `  ${div('x')}\n`],
    ['inline styles', div('<span style="color:red; background: url(data:image/png;base64,AAAA)">x</span>')],
  ])('accepts %s', (_name, html) => {
    expect(checkXhtml(html)).toEqual([]);
  });

  it.each([
    ['another root element', '<p xmlns="http://www.w3.org/1999/xhtml">x</p>', 'structure'],
    ['a missing namespace', '<div>x</div>', 'structure'],
    ['another namespace', '<div xmlns="http://example.org">x</div>', 'structure'],
    ['a prefixed element', div('<h:p xmlns:h="http://www.w3.org/1999/xhtml">x</h:p>'), 'structure'],
    ['an unclosed element', div('<p>x'), 'structure'],
    ['crossed end tags', div('<b><i>x</b></i>'), 'structure'],
    ['an unquoted attribute', div('<p class=x>y</p>'), 'structure'],
    ['a duplicate attribute', div('<p class="a" class="b">y</p>'), 'structure'],
    ['an HTML entity', div('a&nbsp;b'), 'structure'],
    ['a bare ampersand', div('a & b'), 'structure'],
    ['an illegal character reference', div('&#0;'), 'structure'],
    ['a control character', div('a\u0001b'), 'structure'],
    ['a doctype', `<!DOCTYPE html>${div('x')}`, 'structure'],
    ['a processing instruction', div('<?php echo 1 ?>x'), 'structure'],
    ['a second root', `${div('x')}${div('y')}`, 'structure'],
    ['text after the root', `${div('x')}tail`, 'structure'],
    ['a script', div('<script>alert(1)</script>x'), 'invariant'],
    ['a form', div('<form><input name="a"/></form>x'), 'invariant'],
    ['an iframe', div('<iframe src="http://x"></iframe>x'), 'invariant'],
    ['an object', div('<object data="x"></object>x'), 'invariant'],
    ['a style element', div('<style>p{}</style>x'), 'invariant'],
    ['a link element', div('<link rel="stylesheet" href="http://x/a.css"/>x'), 'invariant'],
    ['head and body', div('<head></head><body>x</body>'), 'invariant'],
    ['an onclick attribute', div('<p onclick="x()">y</p>'), 'invariant'],
    ['an ONLOAD attribute', div('<img src="#a" ONLOAD="x()"/>'), 'invariant'],
    ['an unknown attribute', div('<p data-x="1">y</p>'), 'invariant'],
    ['no content', div(''), 'invariant'],
    ['whitespace only', div('<p> \n\t</p>'), 'invariant'],
    ['an image without src as the only content', div('<img alt="x"/>'), 'invariant'],
    ['a javascript: link', div('<a href="javascript:alert(1)">x</a>'), 'value'],
    ['an obfuscated javascript: link', div('<a href=" jav&#x09;ascript:alert(1)">x</a>'), 'value'],
    ['a vbscript: link', div('<a href="VBScript:x">x</a>'), 'value'],
    ['an external image', div('<img src="https://tracker.example.com/p.gif"/>'), 'value'],
    ['a protocol-relative image', div('<img src="//tracker.example.com/p.gif"/>'), 'value'],
    ['an external style URL', div('<p style="background-image: url(\'http://x/y.png\')">x</p>'), 'value'],
    ['a style expression', div('<p style="width: expression(alert(1))">x</p>'), 'value'],
  ])('rejects %s', (_name, html, code) => {
    expect(codes(html)).toContain(code);
  });

  it('reports each distinct problem once, and a bounded number of them', () => {
    const many = div(Array.from({ length: 50 }, (_, i) => `<p onclick="a()" on${i}="b">x</p>`).join(''));
    const problems = checkXhtml(many);
    expect(problems.length).toBeLessThanOrEqual(10);
    expect(new Set(problems.map((p) => p.message)).size).toBe(problems.length);
  });

  it('checks a 1 MB narrative in linear time (~30 ms in node; the bound allows for Jest and a busy machine)', () => {
    const big = div(`<table>${'<tr><td class="c">cell &amp; text</td><td><a href="#x">link</a></td></tr>'.repeat(15000)}</table>`);
    expect(big.length).toBeGreaterThan(1_000_000);
    const start = performance.now();
    expect(checkXhtml(big)).toEqual([]);
    expect(performance.now() - start).toBeLessThan(2000);
  });
});
