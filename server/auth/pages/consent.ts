/**
 * The consent page (DESIGN.md §1.1): one form listing the requested scopes in plain words, with
 * `<button name="decision" value="allow">` and `<button name="decision" value="deny">`.
 */
import { AUTHORIZE_PATH, esc, page, requestFields, signedInLine } from './html';
import { scopeWords } from './scope-words';

export interface ConsentView {
  requestId: string;
  csrf: string;
  clientName: string;
  scopes: string[];
  /** The patient the app will work with, when there is one. */
  patientLabel?: string;
  /** The signed-in user's username. */
  signedInAs?: string;
}

export function consentPage(v: ConsentView): string {
  const items = v.scopes.map((s) => `<li>${esc(scopeWords(s))} <code>${esc(s)}</code></li>`).join('\n');
  return page(
    'Allow access?',
    `<form method="post" action="${AUTHORIZE_PATH}">
${requestFields(v.requestId, v.csrf)}
<p><strong>${esc(v.clientName)}</strong> asks to:</p>
<ul class="scopes">
${items}
</ul>
${v.patientLabel ? `<p>Patient: <strong>${esc(v.patientLabel)}</strong></p>` : ''}
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>
${signedInLine(v.signedInAs)}`,
  );
}
