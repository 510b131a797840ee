/**
 * The hospital dashboard: for one hospital, today's OPD visits by status, dispenses in preparation or on hold,
 * stock items at or below their reorder level, and invoices issued today with their amounts. The figures update
 * live: the app keeps websocket-channel Subscriptions on the hospital's Encounters, MedicationDispenses, stock
 * items and Invoices (reusing active ones with the same criteria), gets a binding token from
 * `Subscription/$get-ws-binding-token`, binds with `bind-with-token` and re-reads the figures on each `ping`.
 */
import type { Basic, Bundle, Encounter, Extension, Invoice, Medication, Organization, Parameters, Subscription } from '@medplum/fhirtypes';
import { type Api, errorText } from './api';
import { clear, errorLine, h, statusLine } from './dom';
import { HFR_SYSTEMS, conceptText, identifierOf, isoDay, money, refId } from './fhir-util';

const STOCK_ITEM = 'https://arogya.dev/fhir/CodeSystem/hms-basic-type|stock-item';
const EXT = 'https://arogya.dev/fhir/StructureDefinition/';
const OPD_STATUSES = ['planned', 'arrived', 'triaged', 'in-progress', 'onleave', 'finished', 'cancelled'];

const ext = (b: Basic, name: string): Extension | undefined => b.extension?.find((e) => e.url === EXT + name);
const qty = (b: Basic, name: string): number => ext(b, name)?.valueQuantity?.value ?? 0;

export interface Figures {
  opd: Record<string, number>;
  opdTotal: number;
  preparation: number;
  onHold: number;
  lowStock: { name: string; available: number; reorderLevel: number }[];
  invoicesIssued: number;
  invoicedAmount: number;
  invoicesDraft: number;
}

export async function readFigures(api: Api, orgId: string, signal: AbortSignal): Promise<Figures> {
  const org = `Organization/${orgId}`;
  const now = new Date();
  const today = isoDay(now);
  const tomorrow = isoDay(new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1));
  const count = async (q: string) => (await api.get<Bundle>(`${q}&_summary=count`, signal)).total ?? 0;
  const [encounters, preparation, onHold, stock, invoices] = await Promise.all([
    api.all<Encounter>(`Encounter?service-provider=${org}&class=AMB&date=ge${today}&date=lt${tomorrow}&_count=1000&_elements=status`, 20_000, signal),
    count(`MedicationDispense?performer=${org}&status=preparation`),
    count(`MedicationDispense?performer=${org}&status=on-hold`),
    (async () => {
      const b = await api.get<Bundle>(`Basic?code=${encodeURIComponent(STOCK_ITEM)}&author=${org}&_count=1000&_include=Basic:subject`, signal);
      const meds = new Map<string, Medication>();
      const items: Basic[] = [];
      for (const e of b.entry ?? []) {
        if (e.resource?.resourceType === 'Medication') meds.set(e.resource.id!, e.resource);
        else if (e.resource?.resourceType === 'Basic') items.push(e.resource);
      }
      return { items, meds };
    })(),
    api.all<Invoice>(`Invoice?issuer=${org}&date=ge${today}&date=lt${tomorrow}&_count=1000`, 20_000, signal),
  ]);
  const opd: Record<string, number> = {};
  for (const e of encounters) opd[e.status] = (opd[e.status] ?? 0) + 1;
  const lowStock = stock.items
    .map((b) => {
      const med = stock.meds.get(refId(b.subject, 'Medication') ?? '');
      const level = ext(b, 'stock-reorder-level');
      return {
        name: (med ? conceptText(med.code) : '') || b.subject?.display || b.id!,
        batch: med?.batch?.lotNumber,
        available: qty(b, 'stock-on-hand') - qty(b, 'stock-reserved'),
        reorderLevel: level ? (level.valueQuantity?.value ?? 0) : Number.NEGATIVE_INFINITY,
      };
    })
    .filter((s) => s.available <= s.reorderLevel)
    .map((s) => ({ name: s.batch ? `${s.name} (batch ${s.batch})` : s.name, available: s.available, reorderLevel: s.reorderLevel }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const billed = invoices.filter((i) => i.status === 'issued' || i.status === 'balanced');
  return {
    opd,
    opdTotal: encounters.length,
    preparation,
    onHold,
    lowStock,
    invoicesIssued: billed.length,
    invoicedAmount: billed.reduce((sum, i) => sum + (i.totalGross?.value ?? 0), 0),
    invoicesDraft: invoices.filter((i) => i.status === 'draft').length,
  };
}

/** The hospital's live-update Subscriptions: an active one with the same criteria is reused, else created. */
async function subscriptions(api: Api, orgId: string): Promise<string[]> {
  const org = `Organization/${orgId}`;
  const criteria = [
    `Encounter?service-provider=${org}`,
    `MedicationDispense?performer=${org}`,
    `Basic?code=${STOCK_ITEM}&author=${org}`,
    `Invoice?issuer=${org}`,
  ];
  return Promise.all(
    criteria.map(async (c) => {
      const found = await api.get<Bundle<Subscription>>(`Subscription?criteria:exact=${encodeURIComponent(c)}&status=active&type=websocket&_count=1`);
      const existing = found.entry?.[0]?.resource;
      if (existing?.id) return existing.id;
      const created = await api.post<Subscription>('Subscription', {
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'Arogya clinician app: live hospital dashboard',
        criteria: c,
        channel: { type: 'websocket' },
      });
      return created.id!;
    }),
  );
}

async function hospitals(api: Api, signal: AbortSignal): Promise<Organization[]> {
  const orgs = await api.all<Organization>(`Organization?identifier=${encodeURIComponent(`${HFR_SYSTEMS[0]}|`)}&_count=200`, 1000, signal);
  return orgs.sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''));
}

export function renderDashboard(main: HTMLElement, api: Api, query: URLSearchParams): () => void {
  const controller = new AbortController();
  let socket: WebSocket | undefined;
  let reconnect: ReturnType<typeof setTimeout> | undefined;
  let pending: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const view = h(
    'section',
    { class: 'dashboard', 'aria-labelledby': 'dash-h', 'aria-busy': 'true' },
    h('h1', { id: 'dash-h' }, 'Hospital dashboard'),
  );
  const body = h('div', {}, statusLine('Loading hospitals…'));
  view.appendChild(body);
  main.appendChild(view);

  void (async () => {
    let orgs: Organization[];
    try {
      orgs = await hospitals(api, controller.signal);
    } catch (e) {
      if (stopped) return;
      clear(body);
      body.appendChild(errorLine(`Could not load the hospitals: ${errorText(e)}`));
      view.setAttribute('aria-busy', 'false');
      return;
    }
    if (stopped) return;
    clear(body);
    if (!orgs.length) {
      view.setAttribute('aria-busy', 'false');
      body.appendChild(statusLine('No hospital (Organization with an HFR id) is registered yet.'));
      return;
    }
    const chosen = orgs.find((o) => o.id === query.get('org')) ?? orgs[0];
    const select = h(
      'select',
      { id: 'dash-org' },
      orgs.map((o) =>
        h(
          'option',
          { value: o.id!, selected: o.id === chosen.id },
          `${o.name ?? o.id}${identifierOf(o.identifier, HFR_SYSTEMS) ? ` (HFR ${identifierOf(o.identifier, HFR_SYSTEMS)})` : ''}`,
        ),
      ),
    );
    select.addEventListener('change', () => {
      location.hash = `#/dashboard?org=${encodeURIComponent(select.value)}`;
    });
    const live = h('p', { id: 'live', class: 'live', role: 'status' }, 'Connecting for live updates…');
    const figures = h('div', { class: 'figures', 'aria-live': 'polite', 'aria-atomic': 'false' }, statusLine('Loading figures…'));
    body.append(h('div', { class: 'field' }, h('label', { for: 'dash-org' }, 'Hospital'), select), live, figures);

    let seq = 0;
    const refresh = async () => {
      const mine = ++seq;
      try {
        const f = await readFigures(api, chosen.id!, controller.signal);
        if (mine !== seq || stopped) return;
        drawFigures(figures, f);
        view.setAttribute('aria-busy', 'false');
        view.dataset.updated = String(Date.now());
      } catch (e) {
        if (stopped) return;
        clear(figures);
        figures.appendChild(errorLine(`Could not read the figures: ${errorText(e)}`));
        view.setAttribute('aria-busy', 'false');
      }
    };
    await refresh();

    const connect = async () => {
      if (stopped) return;
      try {
        const ids = await subscriptions(api, chosen.id!);
        const q = ids.map((id) => `id=${encodeURIComponent(id)}`).join('&');
        const p = await api.get<Parameters>(`Subscription/$get-ws-binding-token?${q}`);
        const token = p.parameter?.find((x) => x.name === 'token')?.valueString;
        const url =
          p.parameter?.find((x) => x.name === 'websocket-url')?.valueUrl ?? p.parameter?.find((x) => x.name === 'websocket-url')?.valueString;
        if (!token || !url) throw new Error('the server gave no binding token');
        if (stopped) return;
        const ws = new WebSocket(url);
        socket = ws;
        const bound = new Set<string>();
        ws.onopen = () => ws.send(`bind-with-token ${token}`);
        ws.onmessage = (m) => {
          const [kind, id] = String(m.data).split(' ');
          if (kind === 'bound') {
            bound.add(id);
            if (bound.size === ids.length) {
              live.textContent = 'Live: figures update as the hospital works.';
              view.dataset.live = 'bound';
              void refresh(); // anything that changed while connecting
            }
          } else if (kind === 'ping') {
            clearTimeout(pending);
            pending = setTimeout(() => void refresh(), 150);
          } else if (kind === 'error') {
            live.textContent = `Live updates refused: ${String(m.data)}`;
          }
        };
        ws.onclose = () => {
          if (stopped) return;
          view.dataset.live = 'closed';
          live.textContent = 'Live updates lost; reconnecting…';
          reconnect = setTimeout(() => void connect(), 3000);
        };
      } catch (e) {
        if (stopped) return;
        live.textContent = `Live updates unavailable: ${errorText(e)}. Retrying…`;
        reconnect = setTimeout(() => void connect(), 5000);
      }
    };
    await connect();
  })();

  return () => {
    stopped = true;
    controller.abort();
    clearTimeout(reconnect);
    clearTimeout(pending);
    socket?.close();
  };
}

function figure(id: string, label: string, value: string | number): HTMLElement {
  return h('div', { class: 'figure', 'data-figure': id }, h('dt', {}, label), h('dd', {}, String(value)));
}

function drawFigures(box: HTMLElement, f: Figures): void {
  clear(box);
  const time = new Date().toLocaleTimeString('en-IN');
  box.append(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'fig-opd' },
      h('h2', { id: 'fig-opd' }, 'OPD visits today'),
      h(
        'dl',
        {},
        figure('opd-total', 'All', f.opdTotal),
        OPD_STATUSES.filter((s) => f.opd[s] || ['arrived', 'in-progress', 'finished'].includes(s)).map((s) => figure(`opd-${s}`, s, f.opd[s] ?? 0)),
      ),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'fig-disp' },
      h('h2', { id: 'fig-disp' }, 'Dispensary'),
      h('dl', {}, figure('dispense-preparation', 'In preparation', f.preparation), figure('dispense-on-hold', 'On hold', f.onHold)),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'fig-stock' },
      h('h2', { id: 'fig-stock' }, 'Stock at or below reorder level'),
      h('dl', {}, figure('stock-low', 'Items', f.lowStock.length)),
      f.lowStock.length
        ? h(
            'ul',
            { class: 'low-stock' },
            f.lowStock.slice(0, 10).map((s) => h('li', {}, `${s.name}: ${s.available} available (reorder at ${s.reorderLevel})`)),
          )
        : null,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'fig-inv' },
      h('h2', { id: 'fig-inv' }, 'Invoices today'),
      h(
        'dl',
        {},
        figure('invoices-issued', 'Issued', f.invoicesIssued),
        figure('invoices-amount', 'Amount', money(f.invoicedAmount)),
        figure('invoices-draft', 'Drafts', f.invoicesDraft),
      ),
    ),
    h('p', { class: 'updated muted' }, `Updated at ${time}`),
  );
}
