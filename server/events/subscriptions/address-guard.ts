/**
 * The rest-hook address guard: a Subscription must not make the server probe the hospital's own network. An
 * endpoint whose address is loopback, private (RFC 1918), carrier-grade NAT, link-local, unique-local (IPv6),
 * unspecified (0.0.0.0, ::), multicast or broadcast — also written as an IPv4-mapped IPv6 address — is refused,
 * unless the operator allows it with AROGYA_SUBSCRIPTION_ALLOW (config.ts), a comma list whose entries are
 *
 *  - a host name or an IP address: matched against the endpoint URL's host *as written* (case-insensitive);
 *  - a CIDR block (`10.20.0.0/16`, `fd00::/8`): matched against the address the host resolves to.
 *
 * Checked twice: at admission, the host as written (an IP literal; names are not resolved then, since what they
 * resolve to may change), and at every delivery the resolved address, by the lookup of the HTTP agent itself
 * (`guardedLookup`): the connection goes to exactly the address that was checked, so DNS rebinding between a
 * check and the connect cannot reach an internal address.
 */
import dns from 'node:dns';
import net from 'node:net';

/** Ranges no endpoint may resolve to unless allowed. */
const FORBIDDEN = new net.BlockList();
for (const [a, p] of [
  ['0.0.0.0', 8], // "this network", 0.0.0.0
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT (shared address space)
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  FORBIDDEN.addSubnet(a, p, 'ipv4');
}
for (const [a, p] of [
  ['::', 128],
  ['::1', 128],
  ['fe80::', 10],
  ['fec0::', 10], // site-local (deprecated)
  ['fc00::', 7],
  ['ff00::', 8],
  ['64:ff9b::', 96], // NAT64: may translate to any IPv4 address, internal ones included
  ['2001:db8::', 32],
] as const) {
  FORBIDDEN.addSubnet(a, p, 'ipv6');
}

/** The operator's exceptions (AROGYA_SUBSCRIPTION_ALLOW), parsed. */
export interface AllowList {
  /** Host names and IP literals, lower case, IPv6 without brackets. */
  hosts: Set<string>;
  /** CIDR blocks of resolved addresses. */
  blocks: net.BlockList;
  /** Whether any block was given. */
  hasBlocks: boolean;
}

export const EMPTY_ALLOW: AllowList = { hosts: new Set(), blocks: new net.BlockList(), hasBlocks: false };

/** Parses the comma list; throws an Error naming a bad entry. */
export function parseAllowList(raw: string | undefined): AllowList {
  const out: AllowList = { hosts: new Set(), blocks: new net.BlockList(), hasBlocks: false };
  for (const entry of (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const slash = entry.indexOf('/');
    if (slash >= 0) {
      const addr = entry.slice(0, slash);
      const bits = Number(entry.slice(slash + 1));
      const family = net.isIP(addr);
      if (!family || !Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) throw new Error(`"${entry}" is not a CIDR block`);
      out.blocks.addSubnet(addr, bits, family === 4 ? 'ipv4' : 'ipv6');
      out.hasBlocks = true;
      continue;
    }
    const host = entry.toLowerCase().replace(/^\[(.*)\]$/, '$1');
    if (!net.isIP(host) && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(host)) {
      throw new Error(`"${entry}" is not a host name, an IP address or a CIDR block`);
    }
    out.hosts.add(host);
  }
  return out;
}

/** An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, `::ffff:7f00:1`) as the IPv4 address it is; else undefined. */
function mappedIpv4(address: string): string | undefined {
  const m = /^(?:0{0,4}:){0,4}:?(?:0{0,4}:)?ffff:(.+)$/i.exec(address);
  if (!m) return undefined;
  if (net.isIPv4(m[1])) return m[1];
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(m[1]);
  if (!hex) return undefined;
  const hi = Number.parseInt(hex[1], 16);
  const lo = Number.parseInt(hex[2], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Why `address` (an IP address) may not be connected to, or undefined when it may. */
export function addressProblem(address: string, allow: AllowList): string | undefined {
  const family = net.isIP(address);
  if (!family) return `${address} is not an IP address`;
  const v4 = family === 6 ? mappedIpv4(address) : address;
  const [addr, type] = v4 ? [v4, 'ipv4' as const] : [address, 'ipv6' as const];
  if (allow.hasBlocks && (allow.blocks.check(addr, type) || allow.blocks.check(address, family === 4 ? 'ipv4' : 'ipv6'))) return undefined;
  if (FORBIDDEN.check(addr, type)) {
    return `${address} is a loopback, private, link-local or otherwise internal address (refused unless AROGYA_SUBSCRIPTION_ALLOW allows it)`;
  }
  return undefined;
}

/** The URL's host without IPv6 brackets, lower case. */
export function hostOf(url: URL): string {
  return url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
}

/**
 * Admission: why an endpoint is refused by what its URL says (an IP literal in a forbidden range), or undefined.
 * Names are checked when they are resolved, at delivery.
 */
export function endpointProblem(url: URL, allow: AllowList): string | undefined {
  const host = hostOf(url);
  if (allow.hosts.has(host)) return undefined;
  if (net.isIP(host)) return addressProblem(host, allow);
  return undefined;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.Agent / net.connect: resolves the name, refuses it when ANY of its addresses is forbidden
 * (an attacker's name may mix a public and an internal address), and hands the checked addresses to the connect.
 */
export function guardedLookup(allow: AllowList) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
    dns.lookup(host, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = addresses as dns.LookupAddress[];
      if (!allow.hosts.has(host)) {
        for (const a of list) {
          const problem = addressProblem(a.address, allow);
          if (problem) return callback(Object.assign(new Error(`${hostname} resolves to ${problem}`), { code: 'EADDRNOTALLOWED' }), '');
        }
      }
      if (options.all) return callback(null, list);
      return callback(null, list[0].address, list[0].family);
    });
  };
}
