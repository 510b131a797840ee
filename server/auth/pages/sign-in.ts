/**
 * The sign-in page (DESIGN.md §1.1): one `<form method="post">` with `username` and `password`, each labelled, and
 * a submit button; with an upstream OpenID provider configured, a second button in the same form signs in there.
 * The account page (/auth/account) shows the same form for a browser that is not signed in.
 */
import { AUTHORIZE_PATH, alertBox, esc, page, requestFields } from './html';

export interface SignInView {
  /** The authorization request; absent on the account page, whose form posts to `action`. */
  requestId?: string;
  csrf: string;
  /** The app asking (authorization), absent on the account page. */
  clientName?: string;
  /** Where the form posts (default: the authorization endpoint). */
  action?: string;
  username?: string;
  error?: string;
  /** The upstream provider's name for its button, when one is configured. */
  upstreamName?: string;
}

export function signInPage(v: SignInView): string {
  const described = v.error ? ' aria-describedby="form-error" aria-invalid="true"' : '';
  const upstream = v.upstreamName
    ? `<p class="or">Or use your organisation's account:</p>
<button type="submit" name="action" value="upstream" class="secondary" formnovalidate>Sign in with ${esc(v.upstreamName)}</button>`
    : '';
  return page(
    'Sign in',
    `${v.clientName ? `<p><strong>${esc(v.clientName)}</strong> asks to use your Arogya account.</p>` : '<p>Sign in to see the apps you allowed to use your account, and to withdraw them.</p>'}
${alertBox(v.error)}
<form method="post" action="${esc(v.action ?? AUTHORIZE_PATH)}">
${v.requestId ? requestFields(v.requestId, v.csrf) : `<input type="hidden" name="csrf" value="${esc(v.csrf)}">`}
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${esc(v.username ?? '')}"${described}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${described}>
<button type="submit" name="action" value="signin">Sign in</button>
${upstream}
</form>`,
  );
}
