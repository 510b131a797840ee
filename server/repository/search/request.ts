/** What a search asks the repository for (executeSearch, executeContainedSearch) and what it finds. */
import type { Issue } from '../../fhir/outcome';
import type { Criterion, IncludeSpec, SortKey } from '../../fhir/search/criteria';
import type { AccessRestriction } from './compile/access';

export interface SearchRequest {
  /** Resource types searched; undefined = every type (system search without _type). */
  types: string[] | undefined;
  criteria: Criterion[];
  sort: SortKey[];
  count: number;
  cursor?: string;
  include: IncludeSpec[];
  /**
   * `complete`: the total only when it costs nothing — the first page holds every match — else none (the REST
   * default: an accurate count reads every match, which a first page of a large result never has to).
   */
  total: 'none' | 'estimate' | 'accurate' | 'complete';
  restriction?: AccessRestriction;
  /** search.html#contained (contained.ts): `true`/`both` search contained resources (one type, no sort/includes) */
  contained?: 'false' | 'true' | 'both';
  containedType?: 'container' | 'contained';
}

export interface FoundResource {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  content: string;
  /** A contained resource (`_containedType=contained`): its container, whose version and lastUpdated it carries. */
  container?: { resourceType: string; id: string };
}

export interface SearchResult {
  matches: FoundResource[];
  includes: FoundResource[];
  total?: number;
  next?: string;
  previous?: string;
  warnings: Issue[];
}
