/**
 * The error and refusal page: an authorization that cannot go back to the app (its redirect URI is not yet
 * validated, so nothing may be sent there), an expired request, a refused upstream identity.
 */
import { esc, page } from './html';

export function errorPage(title: string, message: string): string {
  return page(title, `<p>${esc(message)}</p>\n<p class="muted">You can close this page and start again from the app.</p>`);
}
