// IP allow-lists: addresses and CIDR ranges, IPv4 and IPv6 (IPv4-mapped IPv6 is treated as IPv4).
import net from 'node:net';

export class InvalidAllowlistEntry extends Error {}

function family(address: string): 'ipv4' | 'ipv6' {
  return net.isIPv4(address) ? 'ipv4' : 'ipv6';
}

export function normaliseAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/** Compiles entries such as "10.0.0.0/8", "203.0.113.7" or "2001:db8::/32". */
export function compileAllowlist(entries: string[]): net.BlockList {
  const list = new net.BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.trim().split('/');
    if (!net.isIP(address)) throw new InvalidAllowlistEntry(`"${entry}" is not an IP address or CIDR range`);
    const max = net.isIPv4(address) ? 32 : 128;
    if (prefix === undefined) {
      list.addAddress(address, family(address));
    } else {
      const bits = Number(prefix);
      if (!/^\d+$/.test(prefix) || bits > max) throw new InvalidAllowlistEntry(`"${entry}" has an invalid prefix length`);
      list.addSubnet(address, bits, family(address));
    }
  }
  return list;
}

export function isAllowed(list: net.BlockList, address: string): boolean {
  const ip = normaliseAddress(address);
  return net.isIP(ip) !== 0 && list.check(ip, family(ip));
}
