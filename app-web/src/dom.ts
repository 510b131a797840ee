/** A small element builder: text is always set as text (never parsed as HTML), so data cannot inject markup. */
export type Child = Node | string | number | null | undefined | false | Child[];
export type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** A status line (loading, empty) announced politely to screen readers. */
export function statusLine(text: string): HTMLElement {
  return h('p', { role: 'status', class: 'state' }, text);
}

/** An error announced at once. */
export function errorLine(text: string): HTMLElement {
  return h('p', { role: 'alert', class: 'state error' }, text);
}

let ids = 0;
export function uid(prefix: string): string {
  return `${prefix}-${++ids}`;
}
