import { isIP } from 'node:net';
import { InvalidHostnameError } from './errors.js';

const DNS_NAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

/**
 * The base URL for a connection's hostname. A hostname is a DNS name called over https; an IP
 * literal, a port, a path or a scheme is refused, so a connection cannot point the app at an
 * internal address. The only exception is an exact `host:port` entry of
 * ACTIVECAMPAIGN_INSECURE_HOSTS (loopback emulators), which is called over plain http.
 */
export function activeCampaignBaseUrl(hostname: string, insecureHosts: readonly string[] = []): string {
  const host = hostname.trim().toLowerCase();
  if (insecureHosts.includes(host)) return `http://${host}/api/3`;
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(host)) {
    throw new InvalidHostnameError(
      `The hostname must not include a scheme: give "acme.api-us1.com", not "${hostname}"`,
    );
  }
  if (/[/?#@\s]/.test(host))
    throw new InvalidHostnameError(`The hostname "${hostname}" must not contain a path, query or credentials`);
  if (isIP(host.replace(/^\[|\]$/g, '')) || host.startsWith('[')) {
    throw new InvalidHostnameError(`The hostname "${hostname}" is an IP address; use the account's API hostname`);
  }
  if (host.includes(':')) throw new InvalidHostnameError(`The hostname "${hostname}" must not contain a port`);
  if (!DNS_NAME.test(host) || /^\d+(\.\d+)*$/.test(host)) {
    throw new InvalidHostnameError(`"${hostname}" is not a valid hostname such as "acme.api-us1.com"`);
  }
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal') || host.endsWith('.local')) {
    throw new InvalidHostnameError(`The hostname "${hostname}" names a local network`);
  }
  return `https://${host}/api/3`;
}
