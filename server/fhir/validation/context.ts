/**
 * The state of one validation run: the issues found, the key stack that locates the current value, the resource
 * frames (for %resource/%rootResource and the contained-resource rules) and the places where FHIRPath invariants
 * must run once the structural walk is done.
 */
import type { Constraint } from '../definitions';
import type { Issue, IssueSeverity, IssueType } from '../outcome';
import { formatLocation, type Key } from './location';
import type { ProfileSet } from './profile/set';

/** Reporting stops here: a hostile or garbage body must not produce an unbounded outcome. */
export const MAX_ERRORS = 500;
/** Warnings (e.g. dom-6 on every entry of a large Bundle) are capped lower and never stop the walk. */
export const MAX_WARNINGS = 100;

/** One resource being walked: the top-level one, a contained one, or a Bundle entry / Parameters resource. */
export interface ResourceFrame {
  type: string;
  /** Keys from the validated root to this resource. */
  keyPath: Key[];
  location: string;
  contained: boolean;
  /** %rootResource: the containing resource for contained ones, else the resource itself. */
  root: ResourceFrame;
  /** On root frames: the `#id` local references found anywhere inside (dom-3), and `#id` references to check (ref-1). */
  localRefs: Set<string>;
  pendingLocalRefs: { id: string; location: string }[];
  containedResources: { id: string | undefined; frame: ResourceFrame }[];
  /** On contained frames: the resource refers to its container with `#` (dom-3). */
  refersToContainer: boolean;
  /** The frame to return to when this resource is done. */
  parent: ResourceFrame | undefined;
}

/** A value on which FHIRPath invariants must be evaluated. */
export interface InvariantSite {
  invariants: Constraint[];
  /** The FHIRPath type or element path of the value (compile base). */
  base: string;
  keyPath: Key[];
  /** For invariants of a primitive property, evaluated from its parent: the property's name. */
  property?: string;
  frame: ResourceFrame;
}

export class ValidationContext {
  readonly issues: Issue[] = [];
  readonly keys: Key[] = [];
  readonly sites: InvariantSite[] = [];
  /** Whether any LosslessNumber was seen: FHIRPath then needs a plain-number copy of the resource. */
  sawLossless = false;
  rootType = 'Resource';
  /** Profiles loaded at start-up: claims of them are checked by the profile engine, not warned about. */
  profiles: ProfileSet | undefined;
  frame: ResourceFrame | undefined;
  private truncated = false;
  private errors = 0;
  private warnings = 0;
  private suppressedWarnings = 0;

  location(extra?: string): string {
    return formatLocation(this.rootType, this.keys, extra);
  }

  report(severity: IssueSeverity, code: IssueType, diagnostics: string, location = this.location()): void {
    if (severity === 'error' || severity === 'fatal') {
      if (this.errors >= MAX_ERRORS) {
        if (!this.truncated) {
          this.truncated = true;
          const diagnostics = `More than ${MAX_ERRORS} errors; the rest were not reported`;
          this.issues.push({ severity: 'error', code: 'too-costly', diagnostics, expression: [this.rootType] });
        }
        return;
      }
      this.errors++;
    } else if (this.warnings >= MAX_WARNINGS) {
      this.suppressedWarnings++;
      return;
    } else {
      this.warnings++;
    }
    this.issues.push({ severity, code, diagnostics, expression: [location] });
  }

  /** The issues, with a note about warnings that were left out. */
  finish(): Issue[] {
    if (this.suppressedWarnings > 0) {
      const diagnostics = `${this.suppressedWarnings} more warnings were not reported`;
      this.issues.push({ severity: 'information', code: 'informational', diagnostics, expression: [this.rootType] });
    }
    return this.issues;
  }

  error(code: IssueType, diagnostics: string, location?: string): void {
    this.report('error', code, diagnostics, location);
  }

  get full(): boolean {
    return this.truncated;
  }

  get errorCount(): number {
    return this.errors;
  }
}
