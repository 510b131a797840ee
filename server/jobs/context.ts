/**
 * What a bulk job is given: the same repository and configuration the REST layer has, plus the job store — no pool:
 * resources are read and written through the repository.
 */
import type { Config } from '../config';
import type { Repository } from '../repository/repository';
import type { BulkJobStore } from './store';

export interface JobContext {
  config: Config;
  repo: Repository;
  store: BulkJobStore;
}
