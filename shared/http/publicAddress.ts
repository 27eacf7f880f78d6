import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * Addresses no public service has: this machine, private networks, link-local (cloud metadata), and the like.
 */
const NOT_PUBLIC: [string, number, 'ipv4' | 'ipv6', string][] = [
  ['0.0.0.0', 8, 'ipv4', 'an unspecified'],
  ['10.0.0.0', 8, 'ipv4', 'a private'],
  ['100.64.0.0', 10, 'ipv4', 'a shared (carrier-grade NAT)'],
  ['127.0.0.0', 8, 'ipv4', 'a loopback'],
  ['169.254.0.0', 16, 'ipv4', 'a link-local (cloud metadata)'],
  ['172.16.0.0', 12, 'ipv4', 'a private'],
  ['192.0.0.0', 24, 'ipv4', 'a reserved'],
  ['192.168.0.0', 16, 'ipv4', 'a private'],
  ['198.18.0.0', 15, 'ipv4', 'a benchmarking'],
  ['224.0.0.0', 3, 'ipv4', 'a multicast or reserved'],
  ['::', 128, 'ipv6', 'an unspecified'],
  ['::1', 128, 'ipv6', 'a loopback'],
  ['fc00::', 7, 'ipv6', 'a private'],
  ['fe80::', 10, 'ipv6', 'a link-local'],
  ['ff00::', 8, 'ipv6', 'a multicast'],
];
const blocks = NOT_PUBLIC.map(([net, prefix, type, kind]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, type);
  return { list, type, kind };
});

/** What kind of non-public address this is (undefined for a public one). IPv4 written as IPv6 counts as IPv4. */
export function nonPublicAddress(address: string): string | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const [ip, type] = mapped
    ? [mapped, 'ipv4' as const]
    : [address, isIP(address) === 6 ? ('ipv6' as const) : ('ipv4' as const)];
  return blocks.find((b) => b.type === type && b.list.check(ip, type))?.kind;
}

export type LookupFunction = (
  hostname: string,
  options: LookupOptions,
  callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => void;

/**
 * A DNS lookup for the HTTP client that refuses a name resolving to an address no public service has
 * (loopback, private, link-local, …), at every request, not only when a connection or webhook is
 * saved: a name can be pointed elsewhere later. `base` is injectable for tests; `service` names what
 * the name should be (the error says which address it has and that such a service has none).
 */
export function publicOnlyLookup(base: LookupFunction = dnsLookup, service = 'ActiveCampaign account'): LookupFunction {
  return (hostname, options, callback) => {
    base(hostname, { ...options, all: true }, (error, found) => {
      if (error) return callback(error, []);
      const addresses = found as LookupAddress[];
      for (const a of addresses) {
        const kind = nonPublicAddress(a.address);
        if (kind) {
          const refused: NodeJS.ErrnoException = new Error(
            `The hostname "${hostname}" resolves to ${a.address}, ${kind} address, which no ${service} has`,
          );
          refused.code = NON_PUBLIC_ADDRESS;
          return callback(refused, []);
        }
      }
      if ((options as LookupAllOptions).all) return callback(null, addresses);
      return callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

/** The error code publicOnlyLookup fails with. */
export const NON_PUBLIC_ADDRESS = 'ENONPUBLICADDRESS';
