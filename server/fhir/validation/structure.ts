/**
 * The structural walk: checks a resource's JSON against its StructureDefinition (via schema.ts) in one pass —
 * object vs array vs primitive, unknown properties, cardinality, choice elements, primitive formats, `_x`
 * companions and their null alignment, required bindings, narrative XHTML and the universal invariants ele-1 and
 * ext-1 — and records where FHIRPath invariants must be evaluated afterwards.
 * https://hl7.org/fhir/R4/json.html, https://hl7.org/fhir/R4/elementdefinition.html#interpretation
 */
import { isLosslessNumber } from '../json';
import { isResourceType } from '../definitions';
import type { ValidationContext } from './context';
import { childNode, nodeDef, type ChildDef, type ChoiceGroup, type NodeDef } from './schema';
import { checkXhtml } from './xhtml';
import { finishResource, startResource } from './resource-rules';

/** Deeper than any real resource; a bound so hostile input cannot exhaust the stack. */
const MAX_DEPTH = 100;
const MAX_CODES_LISTED = 12;

type JsonObj = Record<string, unknown>;

function isObject(v: unknown): v is JsonObj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isLosslessNumber(v);
}

function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (isLosslessNumber(v) || typeof v === 'number') return 'a number';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

export class StructureWalker {
  private depth = 0;

  constructor(private readonly ctx: ValidationContext) {}

  /** A resource at the current key path: the validated root, a contained resource or an embedded one. */
  resource(value: unknown, contained: boolean, expectedType?: string): void {
    const ctx = this.ctx;
    if (!isObject(value)) {
      ctx.error('structure', `A resource must be a JSON object, not ${jsonKind(value)}`);
      return;
    }
    const type = value.resourceType;
    if (typeof type !== 'string') {
      ctx.error('structure', 'The resource has no resourceType');
      return;
    }
    if (!isResourceType(type)) {
      ctx.error('structure', `Unknown resource type '${type}': not a concrete FHIR R4 resource type`);
      return;
    }
    if (expectedType !== undefined && type !== expectedType) {
      ctx.error('invalid', `The resource type is ${type}, but ${expectedType} is expected here`);
    }
    const node = nodeDef(type);
    const frame = startResource(ctx, type, contained);
    this.object(node, value);
    finishResource(ctx, frame, node, value);
  }

  /** The properties of one object described by `node`. */
  private object(node: NodeDef, obj: JsonObj, ele1 = true): void {
    const ctx = this.ctx;
    if (++this.depth > MAX_DEPTH) {
      ctx.error('structure', `The content is nested more than ${MAX_DEPTH} levels deep`);
      this.depth--;
      return;
    }
    let properties = 0;
    let hasContent = false; // anything but `id` (ele-1)
    let choices: Map<ChoiceGroup, string> | undefined;
    for (const key in obj) {
      if (ctx.full) break;
      const value = obj[key];
      if (node.isResource && key === 'resourceType') continue;
      properties++;
      if (key !== 'id') hasContent = true;
      const companion = key.charCodeAt(0) === 95; /* _ */
      const name = companion ? key.slice(1) : key;
      const child = node.children.get(name);
      if (!child || (companion && (child.kind !== 'primitive' || child.attribute))) {
        // The raw key (`Patient._name`), not the FHIRPath element: there is no such element.
        ctx.error('structure', `Unknown element '${key}' in ${node.path}`, `${ctx.location()}.${key}`);
        continue;
      }
      if (child.choice) {
        const other = (choices ??= new Map()).get(child.choice);
        if (other === undefined) choices.set(child.choice, name);
        else if (other !== name) {
          ctx.error(
            'structure',
            `Only one of ${other}, ${name} may be present (${child.choice.name} is a single choice element)`,
            ctx.location(name),
          );
        }
      }
      if (companion) {
        // Handled together with the value, unless the value is absent (an extension-only primitive).
        if (obj[name] === undefined) this.primitive(child, undefined, value, name);
        continue;
      }
      switch (child.kind) {
        case 'primitive':
          this.primitive(child, value, child.attribute ? undefined : obj[`_${key}`], key);
          break;
        case 'complex':
          this.complex(child, value, key);
          break;
        case 'resource':
          this.embeddedResources(child, value, key);
          break;
      }
    }
    if (!node.isResource) {
      if (properties === 0) ctx.error('structure', 'Empty objects are not allowed (json.html): omit the element instead');
      // (a primitive's `_x` object may hold just an id when the value is beside it: see primitiveElement)
      else if (ele1 && !hasContent) ctx.error('invariant', 'ele-1: All FHIR elements must have a @value or children (this one has only an id)');
    }
    this.required(node, obj);
    if (node.isExtension) this.ext1(obj, choices);
    for (const p of node.propertyInvariants) {
      if (p.keys.some((k) => obj[k] !== undefined)) {
        ctx.sites.push({ invariants: p.invariants, base: node.path, keyPath: ctx.keys.slice(), property: p.name, frame: ctx.frame! });
      }
    }
    this.depth--;
  }

  private required(node: NodeDef, obj: JsonObj): void {
    const ctx = this.ctx;
    for (const req of node.required) {
      if (!req.keys.some((k) => obj[k] !== undefined)) {
        ctx.error(
          'required',
          `Missing required element '${req.name}' (${node.path}.${req.name}, min ${req.min})`,
          ctx.location(req.name.replace('[x]', '')),
        );
      }
    }
  }

  /** ext-1: "Must have either extensions or value[x], not both" (implemented here: it applies to every extension). */
  private ext1(obj: JsonObj, choices: Map<ChoiceGroup, string> | undefined): void {
    const hasValue = choices !== undefined && choices.size > 0;
    const hasExtensions = Array.isArray(obj.extension) && obj.extension.length > 0;
    if (hasValue === hasExtensions) {
      this.ctx.error('invariant', `ext-1: An extension must have either extensions or value[x], not both${hasValue ? '' : ' (it has neither)'}`);
    }
  }

  // ----------------------------------------------------------------------------------------------------------
  // Primitives: `key` holds the value(s), `_key` the id/extensions, aligned by index for arrays (json.html#primitive).

  private primitive(child: ChildDef, value: unknown, companion: unknown, key: string): void {
    const ctx = this.ctx;
    if (!child.array) {
      if (Array.isArray(value) || Array.isArray(companion)) {
        ctx.error('structure', `Element '${key}' is not repeating: it must not be an array`, ctx.location(key));
        return;
      }
      ctx.keys.push(key);
      if (value === null) ctx.error('structure', 'null is not allowed here: omit the element instead');
      else if (value !== undefined) this.primitiveValue(child, value);
      ctx.keys.pop();
      if (companion !== undefined) this.primitiveElement(companion, value, `_${key}`);
      return;
    }
    if ((value !== undefined && !Array.isArray(value)) || (companion !== undefined && !Array.isArray(companion))) {
      ctx.error('structure', `Element '${key}' is repeating: it must be a JSON array`, ctx.location(key));
      return;
    }
    const values = value as unknown[] | undefined;
    const companions = companion as unknown[] | undefined;
    if (values?.length === 0 || companions?.length === 0) {
      ctx.error('structure', `Empty arrays are not allowed (json.html): omit '${key}' instead`, ctx.location(key));
      return;
    }
    if (values && companions && values.length !== companions.length) {
      ctx.error(
        'structure',
        `'${key}' and '_${key}' must have the same number of items (${values.length} vs ${companions.length})`,
        ctx.location(key),
      );
      return;
    }
    const count = (values ?? companions ?? []).length;
    this.checkMax(child, count, key);
    for (let i = 0; i < count; i++) {
      const v = values?.[i];
      const c = companions?.[i];
      ctx.keys.push(key, i);
      if (v === null || v === undefined) {
        if (c === null || c === undefined) {
          ctx.error('structure', `null is only allowed in '${key}' where '_${key}' has the item's id/extensions`);
        }
      } else {
        this.primitiveValue(child, v);
      }
      ctx.keys.pop();
      ctx.keys.pop();
      if (c !== null && c !== undefined) {
        ctx.keys.push(`_${key}`);
        this.primitiveElement(c, v, i);
        ctx.keys.pop();
      }
    }
  }

  /** The `_x` companion: an Element (id, extension). With no value beside it, it must carry extensions (ele-1). */
  private primitiveElement(element: unknown, value: unknown, key: string | number): void {
    const ctx = this.ctx;
    ctx.keys.push(key);
    if (!isObject(element)) {
      ctx.error('structure', `The id/extensions of a primitive must be a JSON object, not ${jsonKind(element)}`);
    } else {
      this.object(nodeDef('Element'), element, false);
      const hasValue = value !== undefined && value !== null;
      if (!hasValue && element.extension === undefined && Object.keys(element).length > 0) {
        ctx.error('invariant', 'ele-1: All FHIR elements must have a @value or children (this primitive has neither a value nor extensions)');
      }
    }
    ctx.keys.pop();
  }

  private primitiveValue(child: ChildDef, value: unknown): void {
    const ctx = this.ctx;
    const type = child.primitive!;
    if (typeof value === 'object' && isLosslessNumber(value)) ctx.sawLossless = true;
    const problem = type.check(value);
    if (problem) {
      ctx.report(problem.severity, problem.code, problem.message);
      if (problem.severity === 'error') return;
    }
    if (typeof value !== 'string') return;
    if (child.requiredCodes && !child.requiredCodes.has(value)) {
      ctx.error(
        'code-invalid',
        `The code '${value}' is not in the required value set ${child.element.requiredValueSet}${allowed(child.requiredCodes)}`,
      );
    }
    if (child.localRef && value.charCodeAt(0) === 35 /* # */) this.localReference(child, value);
    if (child.type === 'xhtml') {
      for (const p of checkXhtml(value)) ctx.error(p.code, p.message);
    }
  }

  /** `#id` values: references to contained resources (dom-3 counts them, ref-1 checks Reference.reference). */
  private localReference(child: ChildDef, value: string): void {
    const frame = this.ctx.frame!;
    if (value === '#') {
      if (frame.contained) frame.refersToContainer = true;
      else if (child.element.path === 'Reference.reference') {
        this.ctx.error(
          'invariant',
          "ref-1: SHALL have a contained resource if a local reference is provided ('#' refers to a container, but this resource is not contained)",
        );
      }
      return;
    }
    const id = value.slice(1);
    frame.root.localRefs.add(id);
    if (child.element.path === 'Reference.reference') frame.root.pendingLocalRefs.push({ id, location: this.ctx.location() });
  }

  // ----------------------------------------------------------------------------------------------------------
  // Complex values and embedded resources.

  private complex(child: ChildDef, value: unknown, key: string): void {
    this.eachValue(child, value, key, (item, repeating) => {
      if (!isObject(item)) {
        const what = repeating ? `Items of '${key}' (${child.type}) must be JSON objects` : `Element '${key}' (${child.type}) must be a JSON object`;
        this.ctx.error('structure', `${what}, not ${jsonKind(item)}`);
      } else this.complexValue(child, item);
    });
  }

  /**
   * Visits the value of an element, or each item when it repeats, with the item's location pushed; reports a
   * non-repeating element given as an array, and checks arrays (checkArray) first.
   */
  private eachValue(child: ChildDef, value: unknown, key: string, visit: (item: unknown, repeating: boolean) => void): void {
    const ctx = this.ctx;
    if (!child.array) {
      ctx.keys.push(key);
      if (Array.isArray(value)) ctx.error('structure', `Element '${key}' is not repeating: it must not be an array`);
      else visit(value, false);
      ctx.keys.pop();
      return;
    }
    if (!this.checkArray(child, value, key)) return;
    const items = value as unknown[];
    for (let i = 0; i < items.length; i++) {
      ctx.keys.push(key, i);
      visit(items[i], true);
      ctx.keys.pop();
      ctx.keys.pop();
    }
  }

  private complexValue(child: ChildDef, value: JsonObj): void {
    this.object(childNode(child), value);
    if (child.invariants.length) this.site(child);
  }

  /** contained, Bundle.entry.resource, Parameters.parameter.resource: any resource type, validated recursively. */
  private embeddedResources(child: ChildDef, value: unknown, key: string): void {
    const contained = child.element.path.endsWith('.contained');
    this.eachValue(child, value, key, (item) => this.resource(item, contained));
  }

  private checkArray(child: ChildDef, value: unknown, key: string): boolean {
    const ctx = this.ctx;
    if (!Array.isArray(value)) {
      ctx.error('structure', `Element '${key}' is repeating: it must be a JSON array, not ${jsonKind(value)}`, ctx.location(key));
      return false;
    }
    if (value.length === 0) {
      ctx.error('structure', `Empty arrays are not allowed (json.html): omit '${key}' instead`, ctx.location(key));
      return false;
    }
    this.checkMax(child, value.length, key);
    return true;
  }

  private checkMax(child: ChildDef, count: number, key: string): void {
    if (count > child.element.max) {
      this.ctx.error('structure', `Element '${key}' has ${count} items, but at most ${child.element.max} are allowed`, this.ctx.location(key));
    }
  }

  private site(child: ChildDef): void {
    const ctx = this.ctx;
    ctx.sites.push({ invariants: child.invariants, base: child.fhirpathBase, keyPath: ctx.keys.slice(), frame: ctx.frame! });
  }
}

function allowed(codes: ReadonlySet<string>): string {
  const list = [...codes];
  const shown = list.slice(0, MAX_CODES_LISTED).join(', ');
  return ` (allowed: ${shown}${list.length > MAX_CODES_LISTED ? `, … ${list.length - MAX_CODES_LISTED} more` : ''})`;
}
