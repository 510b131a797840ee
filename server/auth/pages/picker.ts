/**
 * The patient picker (DESIGN.md §1.1) for a standalone `launch/patient` when the user has no patient of their own:
 * one `<form method="post">` with a search box `q` (name or NHID) and one radio `patient` per patient shown.
 * The search button comes first, so Enter in the search box searches.
 */
import { AUTHORIZE_PATH, alertBox, esc, page, requestFields, signedInLine } from './html';

export interface PickerPatient {
  id: string;
  name: string;
  birthDate?: string;
  nhid?: string;
}

export interface PickerView {
  requestId: string;
  csrf: string;
  clientName: string;
  q: string;
  patients: PickerPatient[];
  error?: string;
  /** The signed-in user's username. */
  signedInAs?: string;
}

function patientChoice(p: PickerPatient, i: number): string {
  const details = [p.birthDate ? `born ${p.birthDate}` : '', p.nhid ? `NHID ${p.nhid}` : ''].filter(Boolean).join(', ');
  return `<div class="choice">
<input type="radio" id="patient-${i}" name="patient" value="${esc(p.id)}"${i === 0 ? ' required' : ''}>
<label for="patient-${i}">${esc(p.name)}${details ? ` <span class="muted">(${esc(details)})</span>` : ''}</label>
</div>`;
}

export function pickerPage(v: PickerView): string {
  const list = v.patients.length
    ? `<fieldset>
<legend>Patients${v.q ? ` matching “${esc(v.q)}”` : ''}</legend>
${v.patients.map(patientChoice).join('\n')}
</fieldset>
<button type="submit" name="action" value="select">Continue with this patient</button>`
    : `<p>No patients found${v.q ? ` for “${esc(v.q)}”` : ''}.</p>`;
  return page(
    'Choose a patient',
    `<p><strong>${esc(v.clientName)}</strong> will work with the patient you choose.</p>
${alertBox(v.error)}
<form method="post" action="${AUTHORIZE_PATH}">
${requestFields(v.requestId, v.csrf)}
<label for="q">Search by name or NHID</label>
<input type="search" id="q" name="q" value="${esc(v.q)}">
<button type="submit" name="action" value="search" class="secondary" formnovalidate>Search</button>
${list}
</form>
${signedInLine(v.signedInAs)}`,
  );
}
