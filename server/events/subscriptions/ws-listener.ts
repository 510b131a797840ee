/**
 * This process's ear on SUBSCRIPTION_WS_CHANNEL (ws-channel.ts): one dedicated PostgreSQL connection — not a pool
 * client, which would be handed to someone else on release and lose the LISTEN — that reconnects with a growing
 * delay (100 ms doubling up to 5 s) whenever it drops. Notifications sent while it is down are lost: the websocket
 * channel's ping is a hint to re-query, and a client that reconnects should search for what it missed.
 */
import pg from 'pg';
import { SUBSCRIPTION_WS_CHANNEL, parseWsNotification, type WsNotification } from './ws-channel';

export interface WsListenerOptions {
  /** Connection parameters of the dedicated connection (those of the server's pool). */
  connection: pg.ClientConfig;
  onNotification(n: WsNotification): void;
  log: { warn(msg: string): void; info(msg: string): void };
}

const MIN_DELAY_MS = 100;
const MAX_DELAY_MS = 5_000;

export class WsListener {
  private client?: pg.Client;
  private connecting?: Promise<void>;
  private stopped = false;
  private delayMs = MIN_DELAY_MS;
  private retry?: NodeJS.Timeout;

  constructor(private readonly opts: WsListenerOptions) {}

  /** Resolves once the connection LISTENs (the first time; later reconnections happen on their own). */
  start(): Promise<void> {
    if (this.stopped) return Promise.reject(new Error('the websocket listener is stopped'));
    if (this.client) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  get listening(): boolean {
    return this.client !== undefined;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ ...this.opts.connection, application_name: 'arogya-ws-listener' });
    // 'error' (connection lost) and 'end' both mean: this connection is gone, make another one
    let gone = false;
    const lost = (why: string): void => {
      if (gone) return;
      gone = true;
      if (this.client === client) this.client = undefined;
      client.end().catch(() => undefined);
      if (this.stopped) return;
      this.opts.log.warn(`websocket notifications: the LISTEN connection was lost (${why}); reconnecting`);
      this.scheduleReconnect();
    };
    client.on('error', (e) => lost(e.message));
    client.on('end', () => lost('closed'));
    client.on('notification', (m) => {
      if (m.channel !== SUBSCRIPTION_WS_CHANNEL) return;
      const n = parseWsNotification(m.payload);
      if (n) this.opts.onNotification(n);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${SUBSCRIPTION_WS_CHANNEL}`);
    } catch (e) {
      gone = true;
      client.end().catch(() => undefined);
      throw e;
    }
    if (this.stopped) {
      gone = true;
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.delayMs = MIN_DELAY_MS;
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retry) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(MAX_DELAY_MS, this.delayMs * 2);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.start().then(
        () => this.opts.log.info('websocket notifications: LISTENing again'),
        (e: Error) => {
          this.opts.log.warn(`websocket notifications: reconnecting failed (${e.message})`);
          this.scheduleReconnect();
        },
      );
    }, delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
