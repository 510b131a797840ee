/**
 * The authorization pages' HTML: server-rendered, no script, one stylesheet from our own origin (the pages' CSP
 * allows no inline style or script). Every value is escaped where it is put into the page.
 */

/** Text (or an attribute value) safe inside HTML. */
export function esc(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Where the pages' stylesheet is served (auth routes). */
export const STYLESHEET_PATH = '/auth/static/pages.css';
/** Where every page form posts: the authorization endpoint itself. */
export const AUTHORIZE_PATH = '/auth/authorize';

/** A whole page: `lang`, a title that says where the user is, one `<main>` holding one `<h1>`. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${esc(title)} · Arogya</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<header><p class="brand">Arogya</p></header>
<main>
<h1>${esc(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

/** The hidden fields every page form carries: which authorization request, and its CSRF token. */
export function requestFields(requestId: string, csrf: string): string {
  return `<input type="hidden" name="request" value="${esc(requestId)}">
<input type="hidden" name="csrf" value="${esc(csrf)}">`;
}

/** Where the sign-out page is. */
export const LOGOUT_PATH = '/auth/logout';

/** Who is signed in (the pages after sign-in), with the way out for someone else at a shared workstation. */
export function signedInLine(username: string | undefined): string {
  return username
    ? `<p class="muted signed-in">Signed in as <strong>${esc(username)}</strong>. Not you? <a href="${LOGOUT_PATH}">Sign out</a>, then start again from the app.</p>`
    : '';
}

/** A message the user must notice (a refused sign-in, a missing choice): announced by screen readers. */
export function alertBox(message: string | undefined): string {
  return message ? `<p class="alert" role="alert" id="form-error">${esc(message)}</p>` : '';
}
