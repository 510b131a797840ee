/**
 * The websocket channel of FHIR R4 Subscriptions — https://hl7.org/fhir/R4/subscription.html#2.46.7.2 — at
 * `[base]/ws` (advertised by the CapabilityStatement's `capabilitystatement-websocket` extension). Text frames:
 *
 *   client → `bind <id>`               server → `bound <id>`, or `error <id> <reason>`
 *   client → `bind-with-token <token>` server → `bound <id>` (or `error <id> <reason>`) for each Subscription of the
 *                                               token, or `error - <reason>` for a bad token
 *   client → `unbind <id>`             server → `unbound <id>`
 *   server → `ping <id>`               a change matched Subscription <id> (fetch what changed with a search)
 *
 * A bind needs the Subscription to exist, be `active`, have channel.type `websocket`, and be readable by the
 * binder: the bearer token of the upgrade request (`Authorization: Bearer`, verified like any request's; a bad one
 * refuses the upgrade with 401; verified again at each later bind, so an expired or revoked one binds no more), or the caller a binding token was issued to (ws-binding-token.ts; such a token binds
 * only its own Subscriptions). With AROGYA_AUTH=off anyone may bind. One socket may bind several Subscriptions.
 * Notifications reach every process through PostgreSQL (ws-listener.ts); each pings its own sockets.
 */
import { once } from 'node:events';
import websocketPlugin from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type WebSocket from 'ws';
import { authenticate, bearerOf } from '../../auth/guard';
import { InvalidTokenError, type TokenService } from '../../auth/tokens';
import type { Config } from '../../config';
import type { Pool } from '../../database/pool';
import { OperationOutcomeError } from '../../fhir/outcome';
import type { Caller } from '../../repository/caller';
import type { Repository } from '../../repository/repository';
import { callerOfAuth } from '../../rest/caller';
import { InvalidBindingTokenError, type WsBindingTokens } from './ws-binding-token';
import type { WsNotification } from './ws-channel';
import { WsListener } from './ws-listener';

export interface WebsocketChannelOptions {
  config: Config;
  pool: Pool;
  repo: Repository;
  /** Access-token verification (AROGYA_AUTH=smart); undefined: anyone may bind. */
  tokens?: TokenService;
  bindingTokens: WsBindingTokens;
  /** The route, e.g. `/fhir/ws`. */
  path: string;
}

/** Most Subscriptions one socket may bind; largest frame a client may send. */
const MAX_BINDINGS = 256;
const MAX_FRAME_BYTES = 16 * 1024;
/** A socket whose client reads nothing while this much is waiting to be sent is dropped (it would only grow). */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** How long a closing server waits for clients to answer its close frame before it drops them. */
const CLOSE_GRACE_MS = 1_000;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

interface Session {
  socket: WebSocket;
  /** The upgrade request's bearer token, re-verified at each bind (it may have expired or been revoked since). */
  bearer?: string;
  /** Subscriptions a binding token authorised on this socket → the caller it was issued to, until the token expires. */
  tokenCallers: Map<string, { caller: Caller; exp: number }>;
  bound: Set<string>;
}

/** Why a Subscription cannot be bound (sent as `error <id> <reason>`), or undefined when it can. */
async function refusal(repo: Repository, caller: Caller, id: string): Promise<string | undefined> {
  let content: string | undefined;
  try {
    content = (await repo.read(caller, 'Subscription', id)).content;
  } catch (e) {
    if (e instanceof OperationOutcomeError) {
      if (e.status === 404 || e.status === 410) return 'not found';
      if (e.status === 401 || e.status === 403) return 'forbidden: the token may not read this Subscription';
    }
    throw e;
  }
  const sub = JSON.parse(content ?? '{}') as { status?: string; channel?: { type?: string } };
  if (sub.channel?.type !== 'websocket') return `not a websocket subscription (channel.type ${sub.channel?.type ?? 'missing'})`;
  if (sub.status !== 'active') return `not active (status ${sub.status ?? 'missing'})`;
  return undefined;
}

export async function registerWebsocketChannel(app: FastifyInstance, opts: WebsocketChannelOptions): Promise<void> {
  const { config, repo, tokens, bindingTokens } = opts;
  /** Subscription id → the sockets of this process bound to it. */
  const bindings = new Map<string, Set<Session>>();
  const ping = (n: WsNotification): void => {
    for (const s of bindings.get(n.subscription) ?? []) {
      if (s.socket.readyState !== s.socket.OPEN) continue;
      if (s.socket.bufferedAmount > MAX_BUFFERED_BYTES) s.socket.terminate();
      else s.socket.send(`ping ${n.subscription}`);
    }
  };
  const listener = new WsListener({
    connection: {
      connectionString: opts.pool.options.connectionString,
      types: opts.pool.options.types,
    },
    onNotification: ping,
    log: app.log,
  });

  const unbind = (s: Session, id: string): void => {
    s.bound.delete(id);
    const set = bindings.get(id);
    set?.delete(s);
    if (set?.size === 0) bindings.delete(id);
  };

  const bind = async (s: Session, id: string, caller: Caller): Promise<string> => {
    if (s.bound.has(id)) return `bound ${id}`;
    if (s.bound.size >= MAX_BINDINGS) return `error ${id} too many bindings on one socket (at most ${MAX_BINDINGS})`;
    const why = await refusal(repo, caller, id);
    if (why) return `error ${id} ${why}`;
    await listener.start(); // `bound` promises pings from now on
    if (s.socket.readyState !== s.socket.OPEN) return `error ${id} socket closed`;
    s.bound.add(id);
    let set = bindings.get(id);
    if (!set) bindings.set(id, (set = new Set()));
    set.add(s);
    return `bound ${id}`;
  };

  /**
   * The caller a `bind <id>` acts as: the upgrade's token (still valid), else a binding token's for that id (not
   * expired); a string: why neither authorises the bind.
   */
  const callerFor = async (s: Session, id: string): Promise<Caller | string> => {
    if (config.auth === 'off' || !tokens) return callerOfAuth(null, config);
    if (s.bearer !== undefined) {
      try {
        return callerOfAuth(await tokens.verifyAccessToken(s.bearer), config);
      } catch (e) {
        if (e instanceof InvalidTokenError) return `unauthorized: ${e.message}`;
        throw e;
      }
    }
    const granted = s.tokenCallers.get(id);
    if (granted && granted.exp > Date.now() / 1000) return granted.caller;
    if (granted) return 'unauthorized: the binding token has expired';
    return 'unauthorized: send an Authorization header with the upgrade, or bind-with-token';
  };

  const handle = async (s: Session, text: string): Promise<string[]> => {
    const [command, arg, ...rest] = text.trim().split(/\s+/);
    if ((command === 'bind' || command === 'unbind') && (!arg || rest.length > 0 || !FHIR_ID.test(arg)))
      return [`error - ${command} takes one Subscription id`];
    if (command === 'bind') {
      const caller = await callerFor(s, arg);
      if (typeof caller === 'string') return [`error ${arg} ${caller}`];
      return [await bind(s, arg, caller)];
    }
    if (command === 'unbind') {
      unbind(s, arg);
      return [`unbound ${arg}`];
    }
    if (command === 'bind-with-token') {
      if (!arg || rest.length > 0) return ['error - bind-with-token takes one token'];
      let verified: Awaited<ReturnType<WsBindingTokens['verify']>>;
      try {
        verified = await bindingTokens.verify(arg);
      } catch (e) {
        if (e instanceof InvalidBindingTokenError) return [`error - ${e.message}`];
        throw e;
      }
      if (config.auth === 'smart') {
        if (!verified.auth) return ['error - the binding token was issued without authorization'];
        if (verified.accessTokenId && tokens && (await tokens.isRevoked(verified.accessTokenId)))
          return ['error - the access token the binding token was issued against has been revoked'];
      }
      const caller = callerOfAuth(verified.auth, config);
      const out: string[] = [];
      for (const id of verified.subscriptions) {
        if (!FHIR_ID.test(id)) continue;
        s.tokenCallers.set(id, { caller, exp: verified.exp });
        out.push(await bind(s, id, caller));
      }
      return out.length ? out : ['error - the binding token names no Subscription'];
    }
    return [`error - unknown command '${(command ?? '').slice(0, 32)}' (bind, bind-with-token, unbind)`];
  };

  await app.register(websocketPlugin, {
    options: { maxPayload: MAX_FRAME_BYTES },
    // Close every socket (1001 "going away"), give clients a moment to answer, then drop the rest: app.close()
    // must not wait on a client that never completes the closing handshake.
    preClose(done) {
      const open = [...app.websocketServer.clients];
      for (const c of open) c.close(1001, 'server shutting down');
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((r) => (timer = setTimeout(r, CLOSE_GRACE_MS)));
      void Promise.race([Promise.all(open.map((c) => (c.readyState === c.CLOSED ? undefined : once(c, 'close')))), grace])
        .catch(() => undefined)
        .then(() => {
          clearTimeout(timer);
          for (const c of open) if (c.readyState !== c.CLOSED) c.terminate();
          done();
        });
    },
  });
  app.addHook('onClose', async () => listener.stop());

  app.get(
    opts.path,
    {
      websocket: true,
      // the upgrade request is authenticated like any FHIR request when it carries a token (401 refuses the upgrade)
      onRequest: async (req: FastifyRequest) => {
        if (tokens && req.headers.authorization !== undefined) req.auth = await authenticate(tokens, req);
      },
    },
    (socket, req) => {
      const s: Session = { socket, bearer: req.auth ? bearerOf(req) : undefined, tokenCallers: new Map(), bound: new Set() };
      // one message at a time, answered in order
      let queue = Promise.resolve();
      socket.on('message', (data, isBinary) => {
        queue = queue.then(async () => {
          const replies = isBinary
            ? ['error - send text frames']
            : await handle(s, data.toString()).catch((e: Error) => {
                app.log.error({ err: e }, 'websocket channel: a command failed');
                return ['error - internal error'];
              });
          for (const r of replies) if (socket.readyState === socket.OPEN) socket.send(r);
        });
      });
      socket.on('close', () => {
        for (const id of [...s.bound]) unbind(s, id);
      });
    },
  );
}
