/**
 * The shapes of written versions, and what the write engine and its plans need of the repository (Repository
 * implements WritePlanner): in a module of their own, so that the engine (write-engine.ts, bundle-plan.ts) does
 * not import the repository that owns it.
 */
import type { Pool, PoolClient } from '../database/pool';
import type { JsonObject } from '../fhir/json';
import type { Issue } from '../fhir/outcome';
import type { LocalReference } from '../fhir/references';
import type { Criterion } from '../fhir/search/criteria';
import type { UniqueIdentifierRule } from '../fhir/registries';
import type { Caller } from './caller';
import type { AccessRestriction } from './search/compile/access';
import type { VersionWrite, WriteMethod } from './writes';

export interface StoredVersion {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  deleted: boolean;
  /** The resource's JSON text as stored (absent for a deletion). */
  content?: string;
  /** What an afterWrite hook has to say about this write (a workflow that could not act): the response's warnings. */
  notes?: Issue[];
}

export type WriteOutcome = 'created' | 'updated' | 'unchanged' | 'existing' | 'deleted' | 'not-found';

export interface WriteResult extends StoredVersion {
  outcome: WriteOutcome;
  /** Validation warnings (the write went ahead). */
  warnings: Issue[];
}

export interface CommitOptions {
  /** false: the stored bodies are not sent back (content undefined). */
  returnContent?: boolean;
  /** Who wrote the versions: one caller for all, or one per version (the group commit mixes callers). */
  caller?: Caller | readonly Caller[];
}

/** The write engine's commit point (WriteEngine.commit), as a plan calls it for its versions. */
export type Commit = (client: PoolClient, writes: VersionWrite[], opts: CommitOptions) => Promise<StoredVersion[]>;

export interface WritePlanner {
  readonly options: {
    referentialIntegrity: boolean;
    baseUrl: string;
    timeZone: string;
    /** Identifiers that name one resource only (fhir/registries.ts), claimed on write; none: no claims. */
    uniqueIdentifiers?: readonly UniqueIdentifierRule[];
  };
  /** Validates and normalises a resource for writing; throws 400 with every issue on error. */
  prepare(resource: unknown, expectedType: string, id: string, caller?: Caller): { resource: JsonObject; warnings: Issue[] };
  /** Plans the write of one version (serialisation, search values, references); no I/O. */
  planVersion(
    v: { resourceType: string; id: string; versionId: number; method: WriteMethod; insert: boolean },
    resource: JsonObject | undefined,
    links?: LocalReference[],
    /** Called before each expensive step (a request's deadline throws from it). */
    step?: () => void,
  ): VersionWrite;
  /** Ids of current resources matching each query's criteria, at most its limit, among those `access` may search. */
  findIdsMany(
    client: Pool | PoolClient,
    queries: { resourceType: string; criteria: Criterion[]; limit: number }[],
    access?: AccessRestriction,
  ): Promise<string[][]>;
  /** The commit point wrote a SearchParameter: the registry must be synced before the next search or write. */
  searchParametersWritten(): void;
}
