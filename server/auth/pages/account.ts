/**
 * The account page (/auth/account): the apps the signed-in person allowed, each with the scopes in plain words and
 * a Withdraw button (its own small form), and the way to sign out. Withdrawing is as easy as allowing was — one
 * button — as India's DPDP Act 2023 §6(4) asks of consent.
 */
import { LOGOUT_PATH, alertBox, esc, page } from './html';
import { scopeWords } from './scope-words';

export const ACCOUNT_PATH = '/auth/account';

export interface AllowedApp {
  clientId: string;
  clientName: string;
  /** The scope set allowed (normalised, space-separated), as remembered. */
  scope: string;
  /** The day it was allowed (YYYY-MM-DD, UTC). */
  allowedOn: string;
}

export interface AccountView {
  username: string;
  csrf: string;
  apps: AllowedApp[];
  /** What the last action did, e.g. "Access for Ward round withdrawn." */
  notice?: string;
  error?: string;
}

function appEntry(a: AllowedApp, csrf: string, i: number): string {
  const scopes = a.scope
    .split(' ')
    .map((s) => `<li>${esc(scopeWords(s))} <code>${esc(s)}</code></li>`)
    .join('\n');
  return `<section class="app" aria-labelledby="app-${i}">
<h2 id="app-${i}">${esc(a.clientName)}</h2>
<p class="muted">Allowed on ${esc(a.allowedOn)}. It may:</p>
<ul class="scopes">
${scopes}
</ul>
<form method="post" action="${ACCOUNT_PATH}">
<input type="hidden" name="csrf" value="${esc(csrf)}">
<input type="hidden" name="client_id" value="${esc(a.clientId)}">
<input type="hidden" name="scope" value="${esc(a.scope)}">
<button type="submit" name="action" value="withdraw" class="secondary" aria-describedby="app-${i}">Withdraw</button>
</form>
</section>`;
}

export function accountPage(v: AccountView): string {
  const notice = v.notice ? `<p class="notice" role="status">${esc(v.notice)}</p>` : '';
  const list = v.apps.length ? v.apps.map((a, i) => appEntry(a, v.csrf, i)).join('\n') : '<p>You have not allowed any app to use your account.</p>';
  return page(
    'Your apps',
    `<p>Signed in as <strong>${esc(v.username)}</strong>. These apps may use your account without asking again.
Withdrawing stops an app's offline access at once (its refresh tokens and the access tokens they issued are revoked);
an access token it already holds ends within minutes, and the app must ask you again next time.</p>
${alertBox(v.error)}
${notice}
${list}
<p class="signed-in"><a href="${LOGOUT_PATH}">Sign out</a></p>`,
  );
}
