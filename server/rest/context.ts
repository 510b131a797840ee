/**
 * What every interaction module is given: the repository and the configuration, nothing else — no pool: every
 * read and write goes through the repository, with the caller's context (caller.ts).
 */
import type { Config } from '../config';
import type { WsBindingTokens } from '../events/subscriptions/ws-binding-token';
import type { JobRunner } from '../jobs/runner';
import type { Repository } from '../repository/repository';

export interface RestContext {
  config: Config;
  repo: Repository;
  /** The background job runner (bulk $export/$import); absent when the app was built without one. */
  jobs?: JobRunner;
  /** Issues websocket binding tokens (Subscription/$get-ws-binding-token); absent: the websocket channel is off. */
  wsBindingTokens?: WsBindingTokens;
}
