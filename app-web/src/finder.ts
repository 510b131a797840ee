/**
 * The patient finder: by NHID (ABHA number, 14 digits or 91-1234-5678-9012: the server matches either form), name
 * (prefix) or phone; results page through the Bundle's next/previous links.
 */
import type { Patient } from '@medplum/fhirtypes';
import { type Api, type Page, errorText } from './api';
import { clear, errorLine, h, statusLine } from './dom';
import { NHID_SYSTEMS, formatNhid, identifierOf, nameOf, phoneOf } from './fhir-util';

const PAGE_SIZE = 10;
const BY: Record<string, string> = { nhid: 'NHID (ABHA number)', name: 'Name (starts with)', phone: 'Phone' };

export function searchUrl(by: string, q: string): string {
  const v = q.trim();
  const p = new URLSearchParams({ _count: String(PAGE_SIZE) });
  if (by === 'nhid') p.set('identifier', `${NHID_SYSTEMS[0]}|${v}`);
  else if (by === 'phone') p.set('phone', v);
  else {
    p.set('name', v);
    p.set('_sort', 'family,given');
  }
  return `Patient?${p}`;
}

export function renderFinder(main: HTMLElement, api: Api, query: URLSearchParams): () => void {
  const controller = new AbortController();
  const by = BY[query.get('by') ?? ''] ? query.get('by')! : 'name';
  const q = query.get('q') ?? '';
  const select = h('select', { id: 'find-by', name: 'by' }, ...Object.entries(BY).map(([k, t]) => h('option', { value: k, selected: k === by }, t)));
  const input = h('input', {
    id: 'find-q',
    name: 'q',
    type: 'search',
    value: q,
    required: true,
    autocomplete: 'off',
    'aria-describedby': 'find-hint',
  });
  const results = h('section', { 'aria-labelledby': 'results-h', class: 'results', 'aria-busy': 'false' });
  const form = h(
    'form',
    { role: 'search', class: 'finder' },
    h('div', { class: 'field' }, h('label', { for: 'find-by' }, 'Search by'), select),
    h('div', { class: 'field grow' }, h('label', { for: 'find-q' }, 'Search for'), input),
    h('button', { type: 'submit' }, 'Search'),
    h('p', { id: 'find-hint', class: 'hint' }, 'NHID: 14 digits, with or without hyphens. Name: the first letters of a given or family name.'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = `#/find?${new URLSearchParams({ by: select.value, q: input.value.trim() })}`;
    if (location.hash === next) void load(searchUrl(select.value, input.value));
    else location.hash = next;
  });
  main.appendChild(h('section', { 'aria-labelledby': 'find-h' }, h('h1', { id: 'find-h' }, 'Find a patient'), form, results));

  let pageNo = 1;
  async function load(url: string, delta = 0): Promise<void> {
    clear(results);
    results.setAttribute('aria-busy', 'true');
    results.appendChild(h('h2', { id: 'results-h' }, 'Results'));
    results.appendChild(statusLine('Searching…'));
    let page: Page<Patient>;
    try {
      page = await api.page<Patient>(url, controller.signal);
    } catch (e) {
      if (controller.signal.aborted) return;
      clear(results);
      results.append(h('h2', { id: 'results-h' }, 'Results'), errorLine(`The search failed: ${errorText(e)}`));
      results.setAttribute('aria-busy', 'false');
      return;
    }
    pageNo = delta === 0 ? 1 : pageNo + delta;
    clear(results);
    results.setAttribute('aria-busy', 'false');
    results.appendChild(h('h2', { id: 'results-h' }, 'Results'));
    if (page.resources.length === 0) {
      results.appendChild(statusLine(pageNo === 1 ? 'No patient matches this search.' : 'No more patients.'));
      return;
    }
    results.appendChild(
      statusLine(
        `Page ${pageNo}: ${page.resources.length} patient${page.resources.length === 1 ? '' : 's'}${page.total !== undefined ? ` of ${page.total}` : ''}.`,
      ),
    );
    results.appendChild(
      h(
        'table',
        { class: 'list' },
        h('caption', { class: 'sr-only' }, 'Patients found'),
        h('thead', {}, h('tr', {}, ...['Name', 'NHID', 'Sex', 'Born', 'Phone'].map((t) => h('th', { scope: 'col' }, t)))),
        h(
          'tbody',
          {},
          page.resources.map((p) =>
            h(
              'tr',
              {},
              h('td', {}, h('a', { href: `#/patient/${encodeURIComponent(p.id!)}` }, nameOf(p.name))),
              h('td', {}, formatNhid(identifierOf(p.identifier, NHID_SYSTEMS)) ?? '—'),
              h('td', {}, p.gender ?? '—'),
              h('td', {}, p.birthDate ?? '—'),
              h('td', {}, phoneOf(p) ?? '—'),
            ),
          ),
        ),
      ),
    );
    const pager = h('nav', { 'aria-label': 'Result pages', class: 'pager' });
    if (page.previous && pageNo > 1)
      pager.appendChild(h('button', { type: 'button', onclick: () => void load(page.previous!, -1) }, 'Previous page'));
    if (page.next) pager.appendChild(h('button', { type: 'button', onclick: () => void load(page.next!, +1) }, 'Next page'));
    results.appendChild(pager);
  }

  if (q) void load(searchUrl(by, q));
  else results.appendChild(h('h2', { id: 'results-h', class: 'sr-only' }, 'Results'));
  if (!q) input.focus();
  return () => controller.abort();
}
