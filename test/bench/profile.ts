/**
 * Optional (BENCH_CPU_PROF=1): the server runs under `node --cpu-prof`, its cluster workers inherit the flag, and
 * each writes a V8 CPU profile when it exits. This summarises the samples that fall inside one phase's measured
 * window (V8's profile clock and process.hrtime are both CLOCK_MONOTONIC), merged over the workers: self time by
 * package / server module, and the inclusive time of the server's own functions.
 */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** µs of samples in the window (all workers), idle excluded */
  busyMicros: number;
  categories: [string, number][];
  serverFunctions: [string, number][];
  files: number;
}

function category(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === '(garbage collector)') return 'V8: garbage collector';
    if (functionName === '(program)') return 'V8/native: (program)';
    return `V8/native: ${functionName || '(anonymous)'}`;
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return `npm: ${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (url.startsWith('node:')) return 'node core';
  const s = url.indexOf('/dist/server/');
  if (s >= 0) return `server/${url.slice(s + '/dist/server/'.length).replace(/\.js$/, '')}`;
  return url.replace(/^file:\/\//, '');
}

function isServerCode(frame: ProfileNode['callFrame']): boolean {
  return frame.url.includes('/dist/server/');
}

/** `windows`: one measured window, or several (a phase measured in slices); samples in any of them count. */
export function summariseProfiles(dir: string, windows: [number, number] | [number, number][]): ProfileSummary | undefined {
  const spans: [number, number][] = typeof windows[0] === 'number' ? [windows as [number, number]] : (windows as [number, number][]);
  const inWindow = (t: number): boolean => spans.some(([a, b]) => t >= a && t <= b);
  let files: string[];
  try {
    files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return undefined;
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  for (const f of files) {
    const profile = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    let t = profile.startTime;
    for (let i = 0; i < profile.samples.length; i++) {
      t += profile.timeDeltas[i];
      if (!inWindow(t)) continue;
      const weight = profile.timeDeltas[i + 1] ?? 0; // the time until the next sample belongs to this one
      const node = byId.get(profile.samples[i])!;
      if (node.callFrame.functionName === '(idle)') continue;
      busy += weight;
      const cat = category(node.callFrame);
      self.set(cat, (self.get(cat) ?? 0) + weight);
      const seen = new Set<string>();
      for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
        const fr = byId.get(id)!.callFrame;
        if (!isServerCode(fr)) continue;
        const key = `${fr.functionName || '(anonymous)'} (${category(fr)}:${fr.lineNumber + 1})`;
        if (seen.has(key)) continue;
        seen.add(key);
        inclusive.set(key, (inclusive.get(key) ?? 0) + weight);
      }
    }
  }
  const top = (m: Map<string, number>, n: number): [string, number][] => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  return { busyMicros: busy, categories: top(self, 14), serverFunctions: top(inclusive, 16), files: files.length };
}
