/**
 * The box's LAN interfaces for discovery: IPv4, not loopback, optionally restricted to configured names.
 * Probing "every interface explicitly" matters (STACK-NOTES): a multicast probe without an interface
 * follows the default route, which on a venue box is the uplink, and finds nothing on the camera LAN.
 */
import { networkInterfaces } from 'node:os';

export interface LanInterface {
  name: string;
  address: string;
  netmask: string;
  cidr: string;
  mac: string;
}

export function lanInterfaces(only: readonly string[] = []): LanInterface[] {
  const result: LanInterface[] = [];
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    if (only.length > 0 && !only.includes(name)) continue;
    for (const a of addresses ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      result.push({ name, address: a.address, netmask: a.netmask, cidr: a.cidr ?? `${a.address}/32`, mac: a.mac });
    }
  }
  return result;
}

/** The hosts of an IPv4 CIDR (network and broadcast excluded for prefixes up to /30); bounded to /16. */
export function hostsOf(cidr: string): string[] {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  if (!match) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((o) => o > 255) || prefix > 32) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  if (prefix < 16) throw new Error(`${cidr} is larger than a /16; sweep smaller subnets`);
  const base = (((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0) & (prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0);
  const size = 2 ** (32 - prefix);
  const first = prefix <= 30 ? 1 : 0;
  const last = prefix <= 30 ? size - 2 : size - 1;
  const hosts: string[] = [];
  for (let i = first; i <= last; i++) {
    const n = (base + i) >>> 0;
    hosts.push(`${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`);
  }
  return hosts;
}
