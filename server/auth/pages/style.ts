/**
 * The pages' stylesheet (served from our origin: the CSP allows no inline style) and the SMART style JSON
 * (`smart_style_url` in the token response, https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#styling)
 * so an app can match the look. Colours keep a contrast of at least 4.5:1 on their backgrounds; focus is always visible.
 */
const TEXT = '#1a1a1a';
const BACKGROUND = '#ffffff';
const HIGHLIGHT = '#0b57d0';
const ERROR = '#b00020';

export const PAGES_CSS = `
*, *::before, *::after { box-sizing: border-box; }
html { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 100%; line-height: 1.5; color: ${TEXT}; background: ${BACKGROUND}; }
body { margin: 0; }
header { padding: 0.75rem 1.5rem; border-bottom: 1px solid #767676; }
.brand { margin: 0; font-weight: 700; }
main { max-width: 36rem; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
label { display: block; font-weight: 600; margin: 1rem 0 0.25rem; }
input[type=text], input[type=password], input[type=search] { width: 100%; padding: 0.5rem; font: inherit; color: ${TEXT}; background: ${BACKGROUND}; border: 1px solid #595959; border-radius: 4px; }
fieldset { border: 1px solid #767676; border-radius: 4px; margin: 1rem 0; padding: 0.5rem 1rem; }
legend { font-weight: 600; padding: 0 0.25rem; }
.choice { display: flex; gap: 0.5rem; align-items: baseline; margin: 0.5rem 0; }
.choice label { display: inline; font-weight: 400; margin: 0; }
button { font: inherit; padding: 0.5rem 1.25rem; border-radius: 4px; border: 2px solid ${HIGHLIGHT}; background: ${HIGHLIGHT}; color: #ffffff; cursor: pointer; margin: 1rem 0.5rem 0 0; }
button.secondary { background: ${BACKGROUND}; color: ${HIGHLIGHT}; }
:focus-visible { outline: 3px solid ${TEXT}; outline-offset: 2px; }
input:focus-visible { outline: 3px solid ${HIGHLIGHT}; outline-offset: 1px; }
.alert { color: ${ERROR}; border-left: 4px solid ${ERROR}; padding: 0.25rem 0.75rem; font-weight: 600; }
.scopes li { margin: 0.5rem 0; }
.scopes code, .muted { color: #4a4a4a; font-size: 0.9rem; }
.or { margin-top: 1.5rem; }
a { color: ${HIGHLIGHT}; }
.signed-in { margin-top: 2rem; }
h2 { font-size: 1.2rem; margin: 0 0 0.25rem; }
.app { border-top: 1px solid #767676; padding-top: 1rem; margin-top: 1rem; }
.notice { border-left: 4px solid #1e7d32; padding: 0.25rem 0.75rem; font-weight: 600; }
`;

/** SMART App Launch styling parameters. */
export const SMART_STYLE = {
  color_background: BACKGROUND,
  color_error: ERROR,
  color_highlight: HIGHLIGHT,
  color_modal_backdrop: '',
  color_success: '#1e7d32',
  color_text: TEXT,
  dim_border_radius: '4px',
  dim_font_size: '16px',
  dim_spacing_size: '16px',
  font_family_body: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  font_family_heading: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
};
