/**
 * The app's only way to data: the FHIR API through fhirclient's Client, with the token of this launch (refreshed
 * by fhirclient when it runs out). Searches follow the Bundle's `next` links.
 */
import type { Bundle, BundleLink, Resource, OperationOutcome } from '@medplum/fhirtypes';
import type Client from 'fhirclient/lib/Client';

export type { Client };

export class Api {
  constructor(readonly client: Client) {}

  /** The launch's context and what the token may do. */
  get scope(): string {
    return String(this.client.state.tokenResponse?.scope ?? '');
  }
  get patientId(): string | undefined {
    return this.client.patient.id ?? undefined;
  }
  /** user/ or system/ read scopes: the network-wide screens (finder, dashboard). */
  get networkWide(): boolean {
    return /(^|\s)(user|system)\/\*\.(r|rs|read|\*|cruds)(\s|$)/.test(this.scope) || /(^|\s)(user|system)\/Patient\.(rs|read|\*)/.test(this.scope);
  }
  get serverUrl(): string {
    return this.client.state.serverUrl;
  }
  get accessToken(): string | undefined {
    return this.client.state.tokenResponse?.access_token;
  }

  async get<T = Resource>(url: string, signal?: AbortSignal): Promise<T> {
    return (await this.client.request<T>({ url, signal } as Parameters<Client['request']>[0])) as T;
  }

  async post<T = Resource>(url: string, body: unknown): Promise<T> {
    return (await this.client.request<T>({
      url,
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/fhir+json' },
    })) as T;
  }

  /** One page of a search. */
  async page<T extends Resource>(url: string, signal?: AbortSignal): Promise<Page<T>> {
    const b = await this.get<Bundle>(url, signal);
    return toPage<T>(b);
  }

  /** Every match (following `next`), up to `max` resources. */
  async all<T extends Resource>(url: string, max = 20_000, signal?: AbortSignal): Promise<T[]> {
    const out: T[] = [];
    let next: string | undefined = url;
    while (next && out.length < max) {
      const p: Page<T> = await this.page<T>(next, signal);
      out.push(...p.resources);
      next = p.next;
    }
    return out;
  }
}

export interface Page<T> {
  resources: T[];
  included: Resource[];
  next?: string;
  previous?: string;
  total?: number;
}

function link(links: BundleLink[] | undefined, rel: string): string | undefined {
  return links?.find((l) => l.relation === rel)?.url;
}

export function toPage<T extends Resource>(b: Bundle): Page<T> {
  const resources: T[] = [];
  const included: Resource[] = [];
  for (const e of b.entry ?? []) {
    if (!e.resource) continue;
    if (e.search?.mode === 'include') included.push(e.resource as Resource);
    else if (e.search?.mode !== 'outcome') resources.push(e.resource as T);
  }
  return { resources, included, next: link(b.link, 'next'), previous: link(b.link, 'previous'), total: b.total };
}

/** A readable message from whatever a request threw (fhirclient's HttpError carries the OperationOutcome). */
export function errorText(e: unknown): string {
  const err = e as { status?: number; message?: string; response?: unknown; body?: OperationOutcome };
  const issue = err.body?.issue?.[0];
  const detail = issue?.diagnostics ?? issue?.details?.text;
  if (err.status === 401) return 'Your session has ended. Open the app again to sign in.';
  if (err.status === 403) return `Not allowed with this access${detail ? `: ${detail}` : ''}.`;
  if (err.status === 404) return 'Not found, or not visible with this access.';
  return detail ?? err.message ?? String(e);
}
