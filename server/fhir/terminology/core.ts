/**
 * The R4 (4.0.1) core terminology: every CodeSystem and ValueSet of the official definitions in the npm package
 * `hl7.fhir.r4.examples` (the same package definitions.ts reads), distilled into a compact file: code systems keep
 * their concept tree (code, display; definitions and properties are dropped), value sets their compose.
 *
 * Built once per installation and cached on disk like the R4 model (`npm run build` ships it beside the compiled
 * module, so a production install needs neither the package nor a writable cache). Loaded lazily, the first time a
 * terminology operation or a binding check needs a core definition. No I/O happens on any request path after that.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Bump when the distilled shape changes. */
const CORE_VERSION = 1;
const PACKAGE = 'hl7.fhir.r4.examples';

export interface CoreConcept {
  code: string;
  display?: string;
  concept?: CoreConcept[];
}

export interface CoreCodeSystem {
  resourceType: 'CodeSystem';
  url: string;
  id: string;
  name?: string;
  title?: string;
  version?: string;
  status?: string;
  content?: string;
  caseSensitive?: boolean;
  concept?: CoreConcept[];
}

export interface CoreValueSet {
  resourceType: 'ValueSet';
  url: string;
  id: string;
  name?: string;
  title?: string;
  version?: string;
  status?: string;
  compose?: Record<string, unknown>;
}

export interface CoreTerminology {
  codeSystems: CoreCodeSystem[];
  valueSets: CoreValueSet[];
}

function codeHash(): string {
  return crypto.createHash('sha256').update(fs.readFileSync(__filename)).update(String(CORE_VERSION)).digest('hex').slice(0, 12);
}

function shippedFile(): string {
  return path.join(__dirname, `r4-terminology-${codeHash()}.json`);
}

function cacheFile(): string {
  const candidates = [path.join(process.cwd(), 'node_modules', '.cache', 'arogya'), path.join(os.tmpdir(), 'arogya-cache')];
  for (const dir of candidates) {
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
      return path.join(dir, `r4-terminology-${codeHash()}.json`);
    } catch {
      // try the next location
    }
  }
  return '';
}

// biome-ignore lint/suspicious/noExplicitAny: the raw definitions are walked dynamically, once
type Json = Record<string, any>;

function strip(c: Json): CoreConcept {
  const out: CoreConcept = { code: String(c.code) };
  if (typeof c.display === 'string') out.display = c.display;
  if (Array.isArray(c.concept) && c.concept.length) out.concept = c.concept.map(strip);
  return out;
}

function build(): CoreTerminology {
  const dir = path.dirname(require.resolve(`${PACKAGE}/package.json`));
  const out: CoreTerminology = { codeSystems: [], valueSets: [] };
  for (const f of fs.readdirSync(dir)) {
    if (f.startsWith('CodeSystem-')) {
      const j = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Json;
      out.codeSystems.push({
        resourceType: 'CodeSystem',
        url: j.url,
        id: j.id,
        name: j.name,
        title: j.title,
        version: j.version,
        status: j.status,
        content: j.content,
        caseSensitive: j.caseSensitive,
        concept: Array.isArray(j.concept) ? j.concept.map(strip) : undefined,
      });
    } else if (f.startsWith('ValueSet-')) {
      const j = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Json;
      out.valueSets.push({
        resourceType: 'ValueSet',
        url: j.url,
        id: j.id,
        name: j.name,
        title: j.title,
        version: j.version,
        status: j.status,
        compose: j.compose,
      });
    }
  }
  return out;
}

let cached: CoreTerminology | undefined;

/** The core code systems and value sets (cached in memory and on disk). */
export function coreTerminology(): CoreTerminology {
  if (cached) return cached;
  const shipped = shippedFile();
  if (fs.existsSync(shipped)) return (cached = JSON.parse(fs.readFileSync(shipped, 'utf8')) as CoreTerminology);
  const file = cacheFile();
  if (file && fs.existsSync(file)) return (cached = JSON.parse(fs.readFileSync(file, 'utf8')) as CoreTerminology);
  cached = build();
  if (file) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(cached));
    fs.renameSync(tmp, file);
  }
  return cached;
}

/** Writes the distilled terminology beside this module (build step). */
export function shipCoreTerminology(): string {
  const file = shippedFile();
  for (const old of fs.readdirSync(__dirname)) if (/^r4-terminology-.*\.json$/.test(old)) fs.rmSync(path.join(__dirname, old));
  fs.writeFileSync(file, JSON.stringify(coreTerminology()));
  return file;
}

if (require.main === module) console.log(`R4 terminology written to ${path.relative(process.cwd(), shipCoreTerminology())}`);
