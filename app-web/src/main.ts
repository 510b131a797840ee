/**
 * The clinician app's shell: completes the SMART launch (fhirclient `ready`: code → token, PKCE), then routes by
 * the URL's hash: `#/find` (patient finder), `#/patient/{id}` (history), `#/dashboard` (hospital figures). A
 * patient-scoped launch (no user/ or system/ read scope) shows only its patient: no finder, no dashboard.
 */
import type { Patient, Practitioner, RelatedPerson } from '@medplum/fhirtypes';
import FHIR from 'fhirclient';
import { Api, errorText } from './api';
import { clear, errorLine, h } from './dom';
import { nameOf } from './fhir-util';
import { renderFinder } from './finder';
import { renderHistory } from './history';
import { renderDashboard } from './dashboard';
import './style.css';

const main = document.getElementById('main')!;
const nav = document.getElementById('nav')!;
let stopView: (() => void) | undefined;

function route(): { view: string; arg?: string; query: URLSearchParams } {
  const hash = location.hash.replace(/^#\/?/, '');
  const [pathPart, q = ''] = hash.split('?');
  const [view = '', arg] = pathPart.split('/');
  return { view, arg: arg ? decodeURIComponent(arg) : undefined, query: new URLSearchParams(q) };
}

function renderNav(api: Api, current: string): void {
  clear(nav);
  const links: [string, string, string][] = [];
  if (api.networkWide) links.push(['find', '#/find', 'Find a patient']);
  if (api.patientId) links.push(['patient', `#/patient/${api.patientId}`, api.networkWide ? 'Patient of this launch' : 'Patient']);
  if (api.networkWide) links.push(['dashboard', '#/dashboard', 'Hospital dashboard']);
  nav.appendChild(
    h(
      'ul',
      {},
      links.map(([key, href, text]) => h('li', {}, h('a', { href, 'aria-current': key === current ? 'page' : null }, text))),
    ),
  );
}

async function show(api: Api): Promise<void> {
  stopView?.();
  stopView = undefined;
  const r = route();
  let view = r.view;
  if (!view) {
    location.replace(api.patientId ? `#/patient/${api.patientId}` : '#/find');
    return;
  }
  // a patient-scoped launch: its own patient only
  if (!api.networkWide && (view !== 'patient' || r.arg !== api.patientId)) {
    clear(main);
    main.appendChild(
      h(
        'section',
        { 'aria-labelledby': 'denied-h' },
        h('h1', { id: 'denied-h' }, 'Not available'),
        errorLine('This launch gives access to one patient only.'),
        api.patientId ? h('p', {}, h('a', { href: `#/patient/${api.patientId}` }, 'Go to the patient of this launch')) : null,
      ),
    );
    renderNav(api, '');
    return;
  }
  if (view === 'patient' && !r.arg) view = 'find';
  renderNav(api, view === 'patient' && r.arg === api.patientId ? 'patient' : view);
  clear(main);
  if (view === 'find') stopView = renderFinder(main, api, r.query);
  else if (view === 'patient') stopView = renderHistory(main, api, r.arg!, r.query);
  else if (view === 'dashboard') stopView = renderDashboard(main, api, r.query);
  else main.appendChild(h('section', {}, h('h1', {}, 'Page not found'), h('p', {}, h('a', { href: '#/' }, 'Start page'))));
  // move focus to the new view's heading so keyboard and screen-reader users land on it
  const heading = main.querySelector<HTMLElement>('h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

async function start(): Promise<void> {
  let api: Api;
  try {
    api = new Api(await FHIR.oauth2.ready());
  } catch (e) {
    clear(main);
    main.appendChild(
      h(
        'section',
        {},
        h('h1', {}, 'Not signed in'),
        errorLine(`The app could not complete signing in: ${errorText(e)}`),
        h('p', {}, h('a', { href: 'launch.html' }, 'Sign in again')),
      ),
    );
    return;
  }
  const who = document.getElementById('who')!;
  const user = api.client.getFhirUser();
  who.textContent = user ? `Signed in as ${user}` : '';
  // the user's name, when the token may read their resource (it stays the reference otherwise)
  if (user)
    api
      .get<Practitioner | Patient | RelatedPerson>(user)
      .then((r) => {
        who.textContent = `Signed in as ${nameOf(r.name)}`;
      })
      .catch(() => undefined);
  document.body.dataset.access = api.networkWide ? 'network' : 'patient';
  window.addEventListener('hashchange', () => void show(api));
  await show(api);
}

void start();
