/**
 * rest-hook delivery (https://hl7.org/fhir/R4/subscription.html, channel type rest-hook): one notification is one
 * HTTP request, sent through agents whose `lookup` is the address guard's (address-guard.ts), so the connection
 * goes to exactly the address that was checked.
 *
 * - payload omitted: `POST {endpoint}` with an empty body;
 * - payload `application/fhir+json` (or `application/json`): the endpoint is a FHIR base and the version is sent
 *   as an update, `PUT {endpoint}/{type}/{id}`, its body the stored JSON of that version (meta.versionId in it),
 *   read through the repository with the owner's access (subscription-channel-type: "If a payload is included, the
 *   URL is interpreted as the service base, and an update (PUT) is made").
 *
 * Every request carries the subscription's `header`s and `X-Arogya-Resource: {type}/{id}/_history/{versionId}`
 * (a receiver deduplicates on it: delivery is at least once), `X-Arogya-Subscription: {id}` and
 * `X-Arogya-Event: create|update`. Any 2xx answer is success; anything else (a redirect included), a timeout or a
 * refused address is a failure, retried by the queue.
 */
import http from 'node:http';
import https from 'node:https';
import { type AllowList, endpointProblem, guardedLookup } from './address-guard';

export interface Notification {
  subscription: string;
  resourceType: string;
  id: string;
  versionId: number;
  interaction: string;
}

export interface RestHookTarget {
  endpoint: string;
  payload?: string;
  headers: [string, string][];
}

/** Why a notification failed: the reason recorded in Subscription.error when the retries run out. */
export class DeliveryError extends Error {}

export class RestHookSender {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(
    private readonly allow: AllowList,
    private readonly timeoutMs: number,
  ) {
    const lookup = guardedLookup(allow) as unknown as http.AgentOptions['lookup'];
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16, lookup });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, lookup });
  }

  /** Sends one notification; `body` is the version's JSON when the subscription asks for a payload. */
  send(target: RestHookTarget, n: Notification, body: string | undefined): Promise<void> {
    let url: URL;
    try {
      url = new URL(target.endpoint);
    } catch {
      return Promise.reject(new DeliveryError('the endpoint is not a URL'));
    }
    // IP literals are connected to without a lookup: checked here (names are checked by the agent's lookup).
    const problem = endpointProblem(url, this.allow);
    if (problem) return Promise.reject(new DeliveryError(`the endpoint is refused: ${problem}`));
    const withPayload = target.payload !== undefined;
    if (withPayload) url.pathname = `${url.pathname.replace(/\/+$/, '')}/${n.resourceType}/${n.id}`;
    const headers: Record<string, string> = {};
    for (const [name, value] of target.headers) headers[name] = value;
    headers['X-Arogya-Resource'] = `${n.resourceType}/${n.id}/_history/${n.versionId}`;
    headers['X-Arogya-Subscription'] = n.subscription;
    headers['X-Arogya-Event'] = n.interaction;
    const data = withPayload && body !== undefined ? Buffer.from(body) : Buffer.alloc(0);
    if (withPayload)
      headers['Content-Type'] = `${target.payload === 'application/json' ? 'application/json' : 'application/fhir+json'}; charset=utf-8`;
    headers['Content-Length'] = String(data.length);
    const https_ = url.protocol === 'https:';
    return new Promise<void>((resolve, reject) => {
      const req = (https_ ? https : http).request(
        url,
        { method: withPayload ? 'PUT' : 'POST', headers, agent: https_ ? this.httpsAgent : this.httpAgent, timeout: this.timeoutMs },
        (res) => {
          res.resume(); // the answer's body is not needed
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve();
            else reject(new DeliveryError(`the endpoint answered HTTP ${status}`));
          });
          res.on('error', (e) => reject(new DeliveryError(`the endpoint's answer broke off: ${e.message}`)));
        },
      );
      req.on('timeout', () => req.destroy(new DeliveryError(`the endpoint did not answer within ${this.timeoutMs} ms`)));
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e instanceof DeliveryError) return reject(e);
        const what = e.code === 'EADDRNOTALLOWED' ? e.message : `${e.code ?? 'error'}: ${e.message}`;
        reject(new DeliveryError(`the endpoint could not be reached (${what})`));
      });
      req.end(data);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
