/**
 * The websocket channel's notification contract between the process that matched a change to a Subscription and
 * every server process holding websocket clients (https://hl7.org/fhir/R4/subscription.html#2.46.7.2): the matcher
 * runs `SELECT pg_notify(SUBSCRIPTION_WS_CHANNEL, json)` with a `WsNotification` as json — only for active
 * Subscriptions whose channel.type is `websocket`, and only for changes the Subscription's owner may read — and
 * each process LISTENing on the channel (ws-listener.ts) sends `ping <id>` to the sockets bound to it.
 */

/** The PostgreSQL NOTIFY channel of websocket-channel notifications. */
export const SUBSCRIPTION_WS_CHANNEL = 'arogya_subscription_ws';

/** The JSON payload of one notification on SUBSCRIPTION_WS_CHANNEL. */
export interface WsNotification {
  /** The Subscription's logical id. */
  subscription: string;
  /** The changed resource (lets a receiver deduplicate: resourceType/id/versionId). */
  resourceType: string;
  id: string;
  versionId: number;
}

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** The notification of a NOTIFY payload, or undefined when it is not one (it is then ignored). */
export function parseWsNotification(payload: string | undefined): WsNotification | undefined {
  if (!payload) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const n = v as Record<string, unknown>;
  if (typeof n.subscription !== 'string' || !FHIR_ID.test(n.subscription)) return undefined;
  return {
    subscription: n.subscription,
    resourceType: typeof n.resourceType === 'string' ? n.resourceType : '',
    id: typeof n.id === 'string' ? n.id : '',
    versionId: typeof n.versionId === 'number' ? n.versionId : Number(n.versionId),
  };
}
