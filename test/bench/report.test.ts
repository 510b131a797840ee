/** The bench report's floor lines (report.ts formatFloors, formatResults, formatMedians): pure formatting. */
import type { PhaseResult } from './http-load';
import { type Comparison, formatFloors, formatMedians, formatResults } from './report';

/** A phase of `requests` requests whose CPU (s) splits into node, postgres and load generator as given. */
const phase = (name: string, requests: number, node: number, postgres: number, loadGenerator: number): PhaseResult => ({
  name,
  requests,
  seconds: 10,
  perSecond: requests / 10,
  p50: 1,
  p99: 2,
  non2xx: 0,
  errors: 0,
  statusCodes: { '200': requests },
  cpu: { seconds: 10, server: node, serverProcesses: 3, postgres, loadGenerator },
  window: [0, 10_000_000],
});

// 10,000 requests: 1 CPU-second is 100 µs per request
const read = (floorNode: number): Comparison => ({
  name: 'read',
  server: phase('read', 10_000, 1.7, 0.8, 0.6), // 310 µs = 170 + 80 + 60
  raw: phase('raw SELECT', 10_000, 0, 0.7, 0.3),
  targetMicros: 200,
  floor: phase('read floor', 10_000, floorNode, 0.7, 0.45), // (floorNode × 100) + 70 + 45 µs
});
const create: Comparison = {
  name: 'create',
  server: phase('create', 1_000, 0.9, 1.1, 0.1),
  raw: phase('raw INSERT', 1_000, 0, 0.3, 0.05),
  targetMicros: 1_400,
};

describe('formatFloors', () => {
  it('puts the server against its floor part by part, and says when a target lies below the floor', () => {
    const text = formatFloors([[create, read(0.9)]]);
    expect(text.split('\n')).toHaveLength(1); // the create has no floor: no line
    expect(text).toContain('read: floor 205 µs (205); the server 310 µs = 1.51× the floor');
    expect(text).toContain('node 170 vs 90, postgres 80 vs 70, load generator 60 vs 45');
    expect(text).toContain('target ≤ 200 µs = 0.98× the floor — below the floor: no server on this machine can meet it');
  });

  it('takes medians over rounds and claims nothing when the target is above the floor', () => {
    const text = formatFloors([
      [create, read(0.5)],
      [create, read(0.7)],
      [create, read(0.2)],
    ]);
    // floors 165, 185, 135 µs: median 165
    expect(text).toContain('read: floor 165 µs (165, 185, 135)');
    expect(text).toContain('target ≤ 200 µs = 1.21× the floor');
    expect(text).not.toContain('below the floor');
  });
});

describe('the floor columns', () => {
  it('show the floor beside the raw baseline, and a dash where there is none', () => {
    const rows = formatResults([create, read(0.9)]).split('\n');
    expect(rows[0]).toMatch(/raw µs\s+floor µs\s+target/);
    expect(rows[1]).toMatch(/350\s+-\s+≤ 1,400\s+BELOW$/);
    expect(rows[2]).toMatch(/100\s+205\s+≤ 200\s+BELOW$/);
    const medians = formatMedians([[create, read(0.9)]]).split('\n');
    expect(medians[2]).toMatch(/205\s+≤ 200\s+BELOW$/);
  });

  it('flag a floor that answered with errors', () => {
    const broken = read(0.9);
    broken.floor = { ...broken.floor!, non2xx: 12, statusCodes: { '200': 9_988, '404': 12 } };
    expect(formatResults([broken])).toContain('read floor: 12 non-2xx, 0 connection errors — its figure is not valid');
  });
});
