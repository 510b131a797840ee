/**
 * The sign-in page (DESIGN.md §1.1): one `<form method="post">` with `username` and `password`, each labelled, and
 * a submit button; with an upstream OpenID provider configured, a second button in the same form signs in there.
 */
import { AUTHORIZE_PATH, alertBox, esc, page, requestFields } from './html';

export interface SignInView {
  requestId: string;
  csrf: string;
  clientName: string;
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
    `<p><strong>${esc(v.clientName)}</strong> asks to use your Arogya account.</p>
${alertBox(v.error)}
<form method="post" action="${AUTHORIZE_PATH}">
${requestFields(v.requestId, v.csrf)}
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${esc(v.username ?? '')}"${described}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${described}>
<button type="submit" name="action" value="signin">Sign in</button>
${upstream}
</form>`,
  );
}
