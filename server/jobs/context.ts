/** What a bulk job is given: the same repository and configuration the REST layer has, plus the job store. */
import type { Config } from '../config';
import type { Pool } from '../database/pool';
import type { Repository } from '../repository/repository';
import type { BulkJobStore } from './store';

export interface JobContext {
  config: Config;
  pool: Pool;
  repo: Repository;
  store: BulkJobStore;
}
