/**
 * A patient's history across the network: a banner, charts of vital signs and lab values over time (with reference
 * ranges) and a timeline of encounters, newest first, each with its diagnoses, prescriptions (and their dispense
 * status), lab reports (with their observations' values) and bills. Filters: hospital, visit type, date range.
 * All of it is read in parallel searches by patient, each following its next links; the first view's time is
 * recorded (`data-first-view-ms` on the view, and a performance measure `arogya:first-view`).
 */
import type {
  Condition,
  DiagnosticReport,
  Encounter,
  Resource,
  Invoice,
  MedicationDispense,
  MedicationRequest,
  Observation,
  Organization,
  Patient,
} from '@medplum/fhirtypes';
import { type Api, errorText } from './api';
import { type Range, type Series, chartFigure } from './charts';
import { type Child, clear, errorLine, h, statusLine } from './dom';
import { NHID_SYSTEMS, conceptText, dateText, formatNhid, identifierOf, money, nameOf, phoneOf, quantityText, refId } from './fhir-util';

const INVOICE_KEY = 'https://arogya.dev/fhir/sid/invoice-key';
const BILL_ID = 'https://arogya.dev/fhir/sid/bill-id';
const LOINC = 'http://loinc.org';
const BATCH = 25;

interface Data {
  patient: Patient;
  encounters: Encounter[];
  orgs: Map<string, Organization>;
  conditions: Map<string, Condition[]>;
  requests: Map<string, MedicationRequest[]>;
  dispenses: Map<string, MedicationDispense[]>;
  reports: Map<string, DiagnosticReport[]>;
  observations: Observation[];
  obsById: Map<string, Observation>;
  invoices: Map<string, Invoice[]>;
  otherInvoices: Invoice[];
  count: number;
}

type Limits = Omit<Range, 'source'>;

/**
 * Charts shown when the patient has the values: LOINC codes, and typical adult ranges used only when the data gives
 * none (per component for a component observation, such as a blood pressure panel).
 */
const CHARTS: { id: string; title: string; codes: string[]; components?: { code: string; label: string; typical: Limits }[]; typical?: Limits }[] = [
  { id: 'chart-weight', title: 'Body weight', codes: ['29463-7'] },
  {
    id: 'chart-bp',
    title: 'Blood pressure',
    codes: ['85354-9', '55284-4'],
    components: [
      { code: '8480-6', label: 'Systolic', typical: { low: 90, high: 120 } },
      { code: '8462-4', label: 'Diastolic', typical: { low: 60, high: 80 } },
    ],
  },
  { id: 'chart-hba1c', title: 'Hemoglobin A1c', codes: ['4548-4', '17856-6'], typical: { low: 4, high: 5.6 } },
  { id: 'chart-glucose', title: 'Glucose', codes: ['2339-0', '2345-7'], typical: { low: 70, high: 99 } },
  { id: 'chart-bmi', title: 'Body mass index', codes: ['39156-5'], typical: { low: 18.5, high: 24.9 } },
  { id: 'chart-cholesterol', title: 'Total cholesterol', codes: ['2093-3'], typical: { high: 200 } },
];
const TYPICAL = 'typical adult range';

function byRef<T extends Resource>(items: T[], refsOf: (t: T) => (string | undefined)[]): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    for (const r of refsOf(it)) {
      if (!r) continue;
      const list = m.get(r) ?? [];
      list.push(it);
      m.set(r, list);
    }
  }
  return m;
}

const start = (e: Encounter) => e.period?.start ?? e.period?.end ?? '';

export async function loadHistory(api: Api, id: string, signal: AbortSignal): Promise<Data> {
  const pid = encodeURIComponent(id);
  const big = '_count=1000';
  const [patient, encPage, conditions, requests, dispenses, reports, observations, invoices] = await Promise.all([
    api.get<Patient>(`Patient/${pid}`, signal),
    // encounters with their hospitals (_include), every page
    (async () => {
      const all: Encounter[] = [];
      const orgs: Resource[] = [];
      let next: string | undefined = `Encounter?patient=${pid}&_sort=-date&${big}&_include=Encounter:service-provider`;
      while (next) {
        const p: Awaited<ReturnType<Api['page']>> = await api.page<Encounter>(next, signal);
        all.push(...(p.resources as Encounter[]));
        orgs.push(...p.included);
        next = p.next;
      }
      return { all, orgs };
    })(),
    api.all<Condition>(`Condition?patient=${pid}&${big}`, 20_000, signal),
    api.all<MedicationRequest>(`MedicationRequest?patient=${pid}&${big}`, 20_000, signal),
    api.all<MedicationDispense>(`MedicationDispense?patient=${pid}&${big}`, 20_000, signal),
    api.all<DiagnosticReport>(`DiagnosticReport?patient=${pid}&${big}`, 20_000, signal),
    api.all<Observation>(`Observation?patient=${pid}&${big}`, 50_000, signal),
    api.all<Invoice>(`Invoice?patient=${pid}&${big}`, 20_000, signal),
  ]);
  const orgs = new Map<string, Organization>();
  for (const o of encPage.orgs) if (o.resourceType === 'Organization' && o.id) orgs.set(o.id, o);
  const encounters = encPage.all.sort((a, b) => start(b).localeCompare(start(a)));
  const encIds = new Set(encounters.map((e) => e.id));
  const invoiceEncounter = (i: Invoice) => {
    const key = i.identifier?.find((x) => x.system === INVOICE_KEY)?.value;
    const m = key ? /^Encounter\/([^#]+)/.exec(key) : null;
    return m?.[1];
  };
  const invByEnc = byRef(invoices, (i) => [invoiceEncounter(i)]);
  return {
    patient,
    encounters,
    orgs,
    conditions: byRef(conditions, (c) => [refId(c.encounter, 'Encounter')]),
    requests: byRef(requests, (r) => [refId(r.encounter, 'Encounter')]),
    dispenses: byRef(dispenses, (d) => (d.authorizingPrescription ?? []).map((r) => refId(r, 'MedicationRequest'))),
    reports: byRef(reports, (r) => [refId(r.encounter, 'Encounter')]),
    observations,
    obsById: new Map(observations.map((o) => [o.id!, o])),
    invoices: invByEnc,
    otherInvoices: invoices.filter((i) => !encIds.has(invoiceEncounter(i) ?? '')),
    count: 1 + encounters.length + conditions.length + requests.length + dispenses.length + reports.length + observations.length + invoices.length,
  };
}

const CLASS_WORDS: Record<string, string> = {
  AMB: 'Outpatient (OPD)',
  EMER: 'Emergency',
  IMP: 'Inpatient',
  ACUTE: 'Inpatient (acute)',
  NONAC: 'Inpatient (non-acute)',
  OBSENC: 'Observation',
  PRENC: 'Pre-admission',
  SS: 'Short stay',
  VR: 'Virtual',
  HH: 'Home health',
  FLD: 'Field',
};
const visitType = (e: Encounter) => CLASS_WORDS[e.class?.code ?? ''] ?? e.class?.display ?? e.class?.code ?? 'Other';

function hospitalName(d: Data, e: Encounter): string {
  const id = refId(e.serviceProvider, 'Organization');
  const org = id ? d.orgs.get(id) : undefined;
  return org?.name ?? e.serviceProvider?.display ?? (id ? `Organization/${id}` : 'Unknown hospital');
}

function obsValue(o: Observation): string {
  if (o.valueQuantity) return quantityText(o.valueQuantity);
  if (o.valueCodeableConcept) return conceptText(o.valueCodeableConcept);
  if (o.valueString !== undefined) return o.valueString;
  if (o.valueBoolean !== undefined) return o.valueBoolean ? 'yes' : 'no';
  if (o.valueInteger !== undefined) return String(o.valueInteger);
  if (o.component?.length) return o.component.map((c) => `${conceptText(c.code)} ${quantityText(c.valueQuantity)}`).join(', ');
  return '';
}

function flagOf(o: Observation): string {
  const code = o.interpretation?.[0]?.coding?.[0]?.code;
  if (code && code !== 'N') return ` (${code === 'H' || code === 'HH' ? 'high' : code === 'L' || code === 'LL' ? 'low' : code})`;
  const v = o.valueQuantity?.value;
  const r = o.referenceRange?.[0];
  if (v === undefined || !r) return '';
  if (r.high?.value !== undefined && v > r.high.value) return ' (high)';
  if (r.low?.value !== undefined && v < r.low.value) return ' (low)';
  return '';
}

function encounterCard(d: Data, e: Encounter): HTMLElement {
  const id = e.id!;
  const conds = d.conditions.get(id) ?? [];
  const meds = d.requests.get(id) ?? [];
  const reps = d.reports.get(id) ?? [];
  const bills = d.invoices.get(id) ?? [];
  const headId = `enc-${id}-h`;
  const section = (title: string, items: Child[]) => (items.length ? h('div', { class: 'part' }, h('h4', {}, title), h('ul', {}, items)) : null);
  return h(
    'li',
    { class: 'encounter', 'data-encounter': id },
    h(
      'article',
      { 'aria-labelledby': headId },
      h(
        'h3',
        { id: headId },
        h('time', { datetime: start(e) }, dateText(start(e), true) || 'Undated'),
        ' · ',
        conceptText(e.type?.[0]) || visitType(e),
      ),
      h('p', { class: 'meta' }, `${hospitalName(d, e)} · ${visitType(e)} · status ${e.status}`),
      section(
        'Diagnoses',
        conds.map((c) =>
          h('li', {}, conceptText(c.code), c.clinicalStatus ? h('span', { class: 'muted' }, ` (${conceptText(c.clinicalStatus)})`) : null),
        ),
      ),
      section(
        'Prescriptions',
        meds.map((m) => {
          const disp = d.dispenses.get(m.id!) ?? [];
          const med = conceptText(m.medicationCodeableConcept) || m.medicationReference?.display || 'Medicine';
          return h(
            'li',
            {},
            med,
            m.dosageInstruction?.[0]?.text ? h('span', { class: 'muted' }, ` — ${m.dosageInstruction[0].text}`) : null,
            ' ',
            h(
              'span',
              { class: `badge ${disp.length ? `st-${disp[0].status}` : 'st-none'}` },
              disp.length ? `dispense: ${disp.map((x) => x.status).join(', ')}` : `prescription ${m.status}`,
            ),
          );
        }),
      ),
      section(
        'Lab reports',
        reps.map((r) => {
          const results = (r.result ?? []).map((ref) => d.obsById.get(refId(ref, 'Observation') ?? '')).filter((o): o is Observation => !!o);
          return h(
            'li',
            {},
            h('span', {}, conceptText(r.code), h('span', { class: 'muted' }, ` (${r.status})`)),
            results.length
              ? h(
                  'table',
                  { class: 'list compact' },
                  h('caption', { class: 'sr-only' }, `${conceptText(r.code)} results`),
                  h(
                    'thead',
                    {},
                    h('tr', {}, h('th', { scope: 'col' }, 'Test'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, 'Reference')),
                  ),
                  h(
                    'tbody',
                    {},
                    results.map((o) =>
                      h(
                        'tr',
                        {},
                        h('td', {}, conceptText(o.code)),
                        h('td', {}, obsValue(o) + flagOf(o)),
                        h(
                          'td',
                          {},
                          o.referenceRange?.[0]?.text ??
                            [quantityText(o.referenceRange?.[0]?.low), quantityText(o.referenceRange?.[0]?.high)].filter(Boolean).join(' – '),
                        ),
                      ),
                    ),
                  ),
                )
              : null,
          );
        }),
      ),
      section(
        'Bills',
        bills.map((b) => billItem(b)),
      ),
    ),
  );
}

function billItem(b: Invoice): HTMLElement {
  const no = b.identifier?.find((x) => x.system === BILL_ID)?.value;
  return h(
    'li',
    {},
    `Bill ${no ?? b.id}`,
    ' ',
    h('span', { class: `badge st-${b.status}` }, b.status),
    ` · net ${money(b.totalNet?.value)} · total ${money(b.totalGross?.value)}`,
    b.date ? h('span', { class: 'muted' }, ` · ${dateText(b.date)}`) : null,
  );
}

function patientBanner(p: Patient): HTMLElement {
  const nhid = formatNhid(identifierOf(p.identifier, NHID_SYSTEMS));
  return h(
    'div',
    { class: 'banner' },
    h('h1', { id: 'patient-h' }, nameOf(p.name)),
    h(
      'dl',
      { class: 'facts' },
      h('div', {}, h('dt', {}, 'NHID'), h('dd', {}, nhid ?? '—')),
      h('div', {}, h('dt', {}, 'Sex'), h('dd', {}, p.gender ?? '—')),
      h('div', {}, h('dt', {}, 'Born'), h('dd', {}, p.birthDate ?? '—')),
      h('div', {}, h('dt', {}, 'Phone'), h('dd', {}, phoneOf(p) ?? '—')),
    ),
  );
}

/**
 * The values of `codes` (or of their `component`) over time, and the reference range the data gives for them: the
 * component's `referenceRange` for a component, else the observation's, from the latest observation that has one.
 * Its source says whether a lab gave it (category laboratory) or it came with the record.
 */
function seriesFor(obs: Observation[], codes: string[], component?: string): { points: { t: number; v: number }[]; unit: string; range?: Range } {
  const points: { t: number; v: number }[] = [];
  let unit = '';
  let range: (Range & { t: number }) | undefined;
  for (const o of obs) {
    if (!o.code?.coding?.some((c) => c.system === LOINC && c.code && codes.includes(c.code))) continue;
    const when = o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.issued;
    const t = when ? Date.parse(when) : Number.NaN;
    if (Number.isNaN(t)) continue;
    const part = component ? o.component?.find((c) => c.code?.coding?.some((x) => x.code === component)) : o;
    const q = part?.valueQuantity;
    if (q?.value === undefined) continue;
    points.push({ t, v: q.value });
    unit ||= q.unit ?? q.code ?? '';
    const rr = normalRange(part?.referenceRange);
    if (rr && (!range || t >= range.t)) {
      const lab = o.category?.some((c) => c.coding?.some((x) => x.code === 'laboratory'));
      range = { low: rr.low?.value, high: rr.high?.value, source: lab ? 'from the lab' : 'from the record', t };
    }
  }
  points.sort((a, b) => a.t - b.t);
  return { points, unit, range: range && { low: range.low, high: range.high, source: range.source } };
}

/** The normal range among an element's reference ranges: the first without a `type` or of type normal, with a value. */
function normalRange(ranges: Observation['referenceRange']): NonNullable<Observation['referenceRange']>[number] | undefined {
  const valued = (ranges ?? []).filter((r) => r.low?.value !== undefined || r.high?.value !== undefined);
  return valued.find((r) => !r.type || r.type.coding?.some((c) => c.code === 'normal')) ?? valued[0];
}

export function renderHistory(main: HTMLElement, api: Api, id: string, _query: URLSearchParams): () => void {
  const controller = new AbortController();
  const t0 = performance.now();
  const view = h('section', { class: 'history', 'aria-labelledby': 'patient-h', 'aria-busy': 'true' });
  view.appendChild(h('h1', { id: 'patient-h' }, 'Patient history'));
  view.appendChild(statusLine('Loading the patient’s history from every hospital…'));
  main.appendChild(view);
  const charts: { destroy(): void }[] = [];

  loadHistory(api, id, controller.signal).then(
    (d) => {
      if (controller.signal.aborted) return;
      draw(d);
      const ms = Math.round(performance.now() - t0);
      view.dataset.firstViewMs = String(ms);
      view.dataset.resources = String(d.count);
      performance.measure('arogya:first-view', { start: t0, duration: ms });
    },
    (e) => {
      if (controller.signal.aborted) return;
      clear(view);
      view.setAttribute('aria-busy', 'false');
      view.append(h('h1', { id: 'patient-h' }, 'Patient history'), errorLine(`Could not load this patient: ${errorText(e)}`));
    },
  );

  function draw(d: Data): void {
    clear(view);
    view.setAttribute('aria-busy', 'false');
    view.appendChild(patientBanner(d.patient));

    // filters
    const hospitals = [...new Set(d.encounters.map((e) => hospitalName(d, e)))].sort();
    const types = [...new Set(d.encounters.map(visitType))].sort();
    const fHospital = h(
      'select',
      { id: 'f-hospital' },
      h('option', { value: '' }, 'All hospitals'),
      hospitals.map((x) => h('option', { value: x }, x)),
    );
    const fType = h(
      'select',
      { id: 'f-type' },
      h('option', { value: '' }, 'All types'),
      types.map((x) => h('option', { value: x }, x)),
    );
    const fFrom = h('input', { id: 'f-from', type: 'date' });
    const fTo = h('input', { id: 'f-to', type: 'date' });
    const filters = h(
      'form',
      { class: 'filters', 'aria-label': 'Filter the history' },
      h('div', { class: 'field' }, h('label', { for: 'f-hospital' }, 'Hospital'), fHospital),
      h('div', { class: 'field' }, h('label', { for: 'f-type' }, 'Visit type'), fType),
      h('div', { class: 'field' }, h('label', { for: 'f-from' }, 'From'), fFrom),
      h('div', { class: 'field' }, h('label', { for: 'f-to' }, 'To'), fTo),
      h('button', { type: 'reset' }, 'Clear filters'),
    );
    const chartsBox = h('section', { class: 'charts', 'aria-labelledby': 'charts-h' });
    const timelineBox = h('section', { class: 'timeline', 'aria-labelledby': 'timeline-h' });
    view.append(filters, chartsBox, timelineBox);

    const apply = () => {
      const hosp = fHospital.value;
      const type = fType.value;
      const from = fFrom.value;
      const to = fTo.value;
      const encs = d.encounters.filter((e) => {
        const day = start(e).slice(0, 10);
        return (!hosp || hospitalName(d, e) === hosp) && (!type || visitType(e) === type) && (!from || day >= from) && (!to || day <= to);
      });
      const filtered = !!(hosp || type || from || to);
      const encSet = new Set(encs.map((e) => e.id));
      const obs = d.observations.filter((o) => {
        const enc = refId(o.encounter, 'Encounter');
        if (enc && filtered) return encSet.has(enc);
        const day = (o.effectiveDateTime ?? o.effectivePeriod?.start ?? '').slice(0, 10);
        return (!from || day >= from) && (!to || day <= to) && !hosp && !type;
      });
      drawCharts(obs);
      drawTimeline(encs, filtered);
    };
    for (const el of [fHospital, fType, fFrom, fTo]) el.addEventListener('change', apply);
    filters.addEventListener('reset', () => setTimeout(apply));
    filters.addEventListener('submit', (e) => e.preventDefault());

    function drawCharts(obs: Observation[]): void {
      for (const c of charts.splice(0)) c.destroy();
      clear(chartsBox);
      chartsBox.appendChild(h('h2', { id: 'charts-h' }, 'Vital signs and lab values'));
      const grid = h('div', { class: 'chart-grid' });
      for (const def of CHARTS) {
        const series: Series[] = [];
        let unit = '';
        const typical = (limits?: Limits): Range | undefined => limits && { ...limits, source: TYPICAL };
        if (def.components) {
          for (const c of def.components) {
            const s = seriesFor(obs, def.codes, c.code);
            if (s.points.length) series.push({ label: c.label, points: s.points, range: s.range ?? typical(c.typical) });
            unit ||= s.unit;
          }
        } else {
          const s = seriesFor(obs, def.codes);
          if (s.points.length) series.push({ label: def.title, points: s.points, range: s.range ?? typical(def.typical) });
          unit = s.unit;
        }
        if (!series.length) continue;
        const c = chartFigure({ id: def.id, title: def.title, unit, series });
        charts.push(c);
        grid.appendChild(c.el);
      }
      if (!grid.childElementCount) chartsBox.appendChild(statusLine('No vital signs or lab values to chart for this selection.'));
      else chartsBox.appendChild(grid);
    }

    function drawTimeline(encs: Encounter[], filtered: boolean): void {
      clear(timelineBox);
      timelineBox.appendChild(h('h2', { id: 'timeline-h' }, `Visits (${encs.length}${filtered ? ` of ${d.encounters.length}` : ''}), newest first`));
      if (!encs.length) {
        timelineBox.appendChild(statusLine(filtered ? 'No visit matches these filters.' : 'No visits recorded for this patient.'));
        return;
      }
      const list = h('ol', { class: 'encounters' });
      timelineBox.appendChild(list);
      let shown = 0;
      const more = h('button', { type: 'button', class: 'more' }, 'Show more visits');
      const showMore = () => {
        const next = encs.slice(shown, shown + BATCH);
        for (const e of next) list.appendChild(encounterCard(d, e));
        shown += next.length;
        if (shown >= encs.length) more.remove();
        else more.textContent = `Show more visits (${encs.length - shown} more)`;
      };
      more.addEventListener('click', () => {
        const first = shown;
        showMore();
        list.children[first]?.querySelector<HTMLElement>('h3')?.setAttribute('tabindex', '-1');
        list.children[first]?.querySelector<HTMLElement>('h3')?.focus();
      });
      showMore();
      if (shown < encs.length) timelineBox.appendChild(more);
      if (d.otherInvoices.length && !filtered) {
        timelineBox.appendChild(h('h3', {}, 'Bills without a visit'));
        timelineBox.appendChild(h('ul', {}, d.otherInvoices.map(billItem)));
      }
    }

    apply();
  }

  return () => {
    controller.abort();
    for (const c of charts) c.destroy();
  };
}
