/**
 * The R4 (4.0.1) knowledge base, built from the official, unmodified definitions in the npm package
 * `hl7.fhir.r4.examples` (StructureDefinitions, SearchParameters, CompartmentDefinitions, ValueSets, CodeSystems).
 *
 * Reading ~3,000 definition files costs seconds, so the parts the server uses are distilled once into a compact
 * model and cached on disk (keyed by the package version and this module's MODEL_VERSION); every later start
 * loads the cache in a few milliseconds. `npm run build` also writes the model beside the compiled module, so a
 * production install (no devDependencies) reads it without the package. No I/O happens on any request path.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';

/** Bump when the shape or content rules of the distilled model change. */
const MODEL_VERSION = 3;
const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';
const REGEX_EXT = 'http://hl7.org/fhir/StructureDefinition/regex';

export interface ElementType {
  /** A FHIR type name: `string`, `Reference`, `BackboneElement`, `Resource`, … */
  code: string;
  /** For Reference/canonical: the allowed target profiles (canonical URLs). */
  targetProfiles?: string[];
}

export interface Constraint {
  key: string;
  severity: 'error' | 'warning';
  human: string;
  expression: string;
}

export interface ElementDef {
  /** Full path, e.g. `Patient.contact.name`; choice elements end in `[x]`. */
  path: string;
  min: number;
  /** Upper cardinality; `Infinity` for `*`. */
  max: number;
  /** True when the element is a JSON array (base max is not 1). */
  array: boolean;
  types: ElementType[];
  /** For elements that reuse another element's definition (`#Questionnaire.item`): that element's path. */
  contentReference?: string;
  summary: boolean;
  modifier: boolean;
  constraints: Constraint[];
  /** A required binding to an enumerable value set: the allowed codes. */
  requiredCodes?: string[];
  requiredValueSet?: string;
}

export interface TypeDef {
  name: string;
  kind: 'primitive-type' | 'complex-type' | 'resource';
  abstract: boolean;
  /** Canonical URL of the StructureDefinition. */
  url: string;
  baseType?: string;
  /** Snapshot elements in definition order; elements[0] is the root. */
  elements: ElementDef[];
  /** For primitives: the value's lexical pattern (anchored when used). */
  regex?: string;
}

export interface SearchParamDef {
  url: string;
  code: string;
  base: string[];
  type: 'number' | 'date' | 'string' | 'token' | 'reference' | 'composite' | 'quantity' | 'uri' | 'special';
  expression?: string;
  target?: string[];
  modifier?: string[];
  comparator?: string[];
  multipleOr?: boolean;
  multipleAnd?: boolean;
  component?: { definition: string; expression: string }[];
}

export interface R4Model {
  fhirVersion: '4.0.1';
  types: Record<string, TypeDef>;
  /** The concrete (non-abstract) resource types of R4, sorted. */
  resourceTypes: string[];
  /** Canonical URLs of every profile (constraint StructureDefinition) shipped with R4. */
  knownProfiles: string[];
  searchParameters: SearchParamDef[];
  /** CompartmentDefinitions: compartment type → resource type → the params linking a resource to it. */
  compartments: Record<string, Record<string, string[]>>;
}

const PACKAGE = 'hl7.fhir.r4.examples';

function packageDir(): string {
  return path.dirname(require.resolve(`${PACKAGE}/package.json`));
}

/** Identifies this module's build and model version: a model file made by other code is never read. */
function codeHash(): string {
  return crypto.createHash('sha256').update(fs.readFileSync(__filename)).update(String(MODEL_VERSION)).digest('hex').slice(0, 12);
}

/**
 * The model as shipped with the compiled code (`npm run build` writes it, shipModel): a production install reads
 * it and needs neither the 191 MB definitions package (a devDependency) nor a writable cache.
 */
function shippedFile(): string {
  return path.join(__dirname, `r4-model-${codeHash()}.json`);
}

/** Writes the distilled model beside this module (build step: `node dist/server/fhir/definitions.js`). */
export function shipModel(): string {
  const file = shippedFile();
  for (const old of fs.readdirSync(__dirname)) if (/^r4-model-.*\.json$/.test(old)) fs.rmSync(path.join(__dirname, old)); // earlier builds'
  fs.writeFileSync(file, JSON.stringify(r4Model()));
  return file;
}

function cacheFile(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageDir(), 'package.json'), 'utf8')) as { version: string };
  const hash = codeHash();
  const candidates = [path.join(process.cwd(), 'node_modules', '.cache', 'arogya'), path.join(os.tmpdir(), 'arogya-cache')];
  for (const dir of candidates) {
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
      return path.join(dir, `r4-model-${pkg.version}-${hash}.json`);
    } catch {
      // try the next location
    }
  }
  return '';
}

let cached: R4Model | undefined;

/** The R4 model, distilled from the official definitions (cached in memory and on disk). */
export function r4Model(): R4Model {
  if (cached) return cached;
  const read = (f: string): R4Model => JSON.parse(fs.readFileSync(f, 'utf8'), (k, v) => (k === 'max' && v === null ? Infinity : v)) as R4Model;
  const shipped = shippedFile();
  if (fs.existsSync(shipped)) return (cached = read(shipped));
  const file = cacheFile();
  if (file && fs.existsSync(file)) return (cached = read(file));
  cached = buildModel(packageDir());
  if (file) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(cached));
    fs.renameSync(tmp, file); // atomic: parallel test workers may race to write it
  }
  return cached;
}

// ---------------------------------------------------------------------------------------------------------------
// Building the model from the package (runs once per installation).

// biome-ignore lint/suspicious/noExplicitAny: the raw R4 definitions are walked dynamically, once, to build the typed model
type Json = Record<string, any>;

function readJson(dir: string, name: string): Json {
  return JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as Json;
}

function typeCode(t: Json): string {
  const ext = (t.extension as Json[] | undefined)?.find((e) => e.url === FHIR_TYPE_EXT);
  if (ext) return ext.valueUrl as string;
  const code = t.code as string;
  // Primitive `value` elements are typed with FHIRPath system types; keep them distinguishable.
  return code.startsWith('http://hl7.org/fhirpath/System.') ? `System.${code.slice('http://hl7.org/fhirpath/System.'.length)}` : code;
}

function buildModel(dir: string): R4Model {
  const files = fs.readdirSync(dir);
  const valueSets = new Map<string, Json>();
  const codeSystems = new Map<string, Json>();
  for (const f of files) {
    if (f.startsWith('ValueSet-')) {
      const vs = readJson(dir, f);
      valueSets.set(vs.url as string, vs);
    } else if (f.startsWith('CodeSystem-')) {
      const cs = readJson(dir, f);
      codeSystems.set(cs.url as string, cs);
    }
  }

  const types: Record<string, TypeDef> = {};
  const knownProfiles: string[] = [];
  for (const f of files.filter((n) => n.startsWith('StructureDefinition-'))) {
    const sd = readJson(dir, f);
    if (sd.derivation === 'constraint') {
      knownProfiles.push(sd.url as string);
      continue;
    }
    if (!['primitive-type', 'complex-type', 'resource'].includes(sd.kind as string)) continue;
    const elements: ElementDef[] = (sd.snapshot.element as Json[]).map((e) => toElement(e, valueSets, codeSystems));
    const def: TypeDef = {
      name: sd.type as string,
      kind: sd.kind as TypeDef['kind'],
      abstract: Boolean(sd.abstract),
      url: sd.url as string,
      baseType: sd.baseDefinition ? String(sd.baseDefinition).split('/').pop() : undefined,
      elements,
    };
    if (sd.kind === 'primitive-type') {
      const value = (sd.snapshot.element as Json[]).find((e) => e.path === `${sd.type}.value`);
      const regex = (value?.type?.[0]?.extension as Json[] | undefined)?.find((x) => x.url === REGEX_EXT)?.valueString;
      if (regex) def.regex = regex as string;
    }
    types[def.name] = def;
  }
  const resourceTypes = Object.values(types)
    .filter((t) => t.kind === 'resource' && !t.abstract)
    .map((t) => t.name)
    .sort();

  const searchParameters: SearchParamDef[] = [];
  for (const f of files.filter((n) => n.startsWith('SearchParameter-'))) {
    const sp = readJson(dir, f);
    searchParameters.push({
      url: sp.url,
      code: sp.code,
      base: sp.base,
      type: sp.type,
      expression: sp.expression,
      target: sp.target,
      modifier: sp.modifier,
      comparator: sp.comparator,
      multipleOr: sp.multipleOr,
      multipleAnd: sp.multipleAnd,
      component: sp.component?.map((c: Json) => ({ definition: c.definition, expression: c.expression })),
    });
  }

  const compartments: Record<string, Record<string, string[]>> = {};
  for (const f of files.filter((n) => n.startsWith('CompartmentDefinition-') && n !== 'CompartmentDefinition-example.json')) {
    const cd = readJson(dir, f);
    const byType: Record<string, string[]> = {};
    for (const r of cd.resource as Json[]) if (r.param?.length) byType[r.code] = r.param;
    compartments[cd.code as string] = byType;
  }

  return { fhirVersion: '4.0.1', types, resourceTypes, knownProfiles: knownProfiles.sort(), searchParameters, compartments };
}

function toElement(e: Json, valueSets: Map<string, Json>, codeSystems: Map<string, Json>): ElementDef {
  const max = e.max === '*' ? Infinity : Number(e.max);
  const baseMax = e.base?.max ?? e.max;
  const el: ElementDef = {
    path: e.path,
    min: e.min ?? 0,
    max,
    array: baseMax !== '1' && baseMax !== '0',
    types: ((e.type as Json[] | undefined) ?? []).map((t) => {
      const out: ElementType = { code: typeCode(t) };
      if (t.targetProfile) out.targetProfiles = t.targetProfile;
      return out;
    }),
    summary: Boolean(e.isSummary),
    modifier: Boolean(e.isModifier),
    constraints: ((e.constraint as Json[] | undefined) ?? [])
      .filter((c) => c.expression)
      .map((c) => ({ key: c.key, severity: c.severity, human: c.human, expression: c.expression })),
  };
  if (e.contentReference) el.contentReference = String(e.contentReference).replace(/^#/, '');
  if (e.binding?.strength === 'required' && e.binding.valueSet && el.types.some((t) => t.code === 'code')) {
    const url = String(e.binding.valueSet).split('|')[0];
    const codes = expandSimple(url, valueSets, codeSystems);
    if (codes) {
      el.requiredCodes = codes;
      el.requiredValueSet = url;
    }
  }
  return el;
}

/** Codes of a value set made only of whole code systems or enumerated concepts (no filters); else undefined. */
function expandSimple(url: string, valueSets: Map<string, Json>, codeSystems: Map<string, Json>): string[] | undefined {
  const vs = valueSets.get(url);
  if (!vs?.compose?.include || vs.compose.exclude) return undefined;
  const codes = new Set<string>();
  for (const inc of vs.compose.include as Json[]) {
    if (inc.filter || inc.valueSet) return undefined;
    if (inc.concept) {
      for (const c of inc.concept as Json[]) codes.add(c.code);
      continue;
    }
    const cs = codeSystems.get(inc.system);
    if (!cs?.concept || cs.content !== 'complete') return undefined;
    const walk = (concepts: Json[]): void => {
      for (const c of concepts) {
        codes.add(c.code);
        if (c.concept) walk(c.concept);
      }
    };
    walk(cs.concept);
  }
  return codes.size ? [...codes] : undefined;
}

/** Convenience lookups over the model. */
export function isResourceType(name: string): boolean {
  return resourceTypeSet().has(name);
}

let rtSet: Set<string> | undefined;
function resourceTypeSet(): Set<string> {
  rtSet ??= new Set(r4Model().resourceTypes);
  return rtSet;
}

if (require.main === module) console.log(`R4 model written to ${path.relative(process.cwd(), shipModel())}`);
