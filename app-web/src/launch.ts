/**
 * The SMART launch page (/app/launch.html): EHR launch (`?iss=…&launch=…`) or standalone (no iss: this server's
 * FHIR base). `mode` picks what the app asks for:
 * - `ehr` (an EHR launch; default when `launch` is given): the launch's patient, plus user-level reads;
 * - `picker` (standalone default): the server's patient picker, plus user-level reads;
 * - `finder`: user-level reads only (the patient finder and the hospital dashboard);
 * - `patient`: one patient only (`patient/` scopes): no finder, no dashboard.
 * The client is public (`arogya-web`, registered by the server at start-up); PKCE is required.
 */
import FHIR from 'fhirclient';
import './style.css';

export const CLIENT_ID = 'arogya-web';
// user-level reads of the network, and the dashboard's websocket Subscriptions (create, read, search)
const USER = 'user/*.rs user/Subscription.crs';
const SCOPES: Record<string, string> = {
  ehr: `launch openid fhirUser online_access ${USER}`,
  picker: `launch/patient openid fhirUser online_access ${USER}`,
  finder: `openid fhirUser online_access ${USER}`,
  patient: 'launch/patient openid fhirUser online_access patient/*.rs',
  'ehr-patient': 'launch openid fhirUser online_access patient/*.rs',
};

const status = document.getElementById('launch-status')!;
const params = new URLSearchParams(location.search);
const launch = params.get('launch');
const iss = params.get('iss') ?? new URL('../fhir', location.href).toString();
let mode = params.get('mode') ?? (launch ? 'ehr' : 'picker');
if (launch && mode === 'patient') mode = 'ehr-patient';
if (!SCOPES[mode] || (mode.startsWith('ehr') && !launch)) {
  status.textContent = `Unknown launch mode "${mode}". Choose one:`;
  document.getElementById('launch-choices')!.hidden = false;
} else {
  FHIR.oauth2
    .authorize({
      clientId: CLIENT_ID,
      scope: SCOPES[mode],
      iss,
      ...(launch ? { launch } : {}),
      redirectUri: './',
      pkceMode: 'required',
    })
    .catch((e: unknown) => {
      status.textContent = `Could not start signing in: ${e instanceof Error ? e.message : String(e)}`;
      status.setAttribute('role', 'alert');
      document.getElementById('launch-choices')!.hidden = false;
    });
}
