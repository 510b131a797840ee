/**
 * Sign-out (`/auth/logout`): the page asks, its form's POST ends the browser's sign-in session (sessions.ts). The
 * apps' own tokens are not touched: an app signs out of itself, and revokes its tokens at `/auth/revoke`.
 */
import { LOGOUT_PATH, esc, page } from './html';

/** The account page (account.ts): the apps allowed, and withdrawing them. */
const YOUR_APPS = '<p><a href="/auth/account">Your apps</a>: see the apps you allowed to use your account, and withdraw them.</p>';

export function signOutPage(username: string | undefined): string {
  if (!username) return page('Sign out', '<p>No one is signed in in this browser.</p>');
  return page(
    'Sign out',
    `<p>Signed in as <strong>${esc(username)}</strong>. Signing out means the next app you open asks you to sign in again.</p>
<form method="post" action="${LOGOUT_PATH}">
<button type="submit">Sign out</button>
</form>
${YOUR_APPS}`,
  );
}

export function signedOutPage(): string {
  return page(
    'Signed out',
    '<p>You are signed out. Apps you opened keep working until their access ends; the next sign-in starts afresh.</p>\n<p class="muted">You can close this page.</p>',
  );
}
