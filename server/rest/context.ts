/** What every interaction module is given: the repository and the configuration, nothing else. */
import type { Config } from '../config';
import type { Pool } from '../database/pool';
import type { JobRunner } from '../jobs/runner';
import type { Repository } from '../repository/repository';

export interface RestContext {
  config: Config;
  pool: Pool;
  repo: Repository;
  /** The background job runner (bulk $export/$import); absent when the app was built without one. */
  jobs?: JobRunner;
}
