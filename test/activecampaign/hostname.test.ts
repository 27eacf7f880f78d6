import { describe, expect, it } from 'vitest';
import { InvalidHostnameError } from '../../shared/activecampaign/errors.js';
import { ActiveCampaignClient } from '../../shared/activecampaign/client.js';
import { activeCampaignBaseUrl } from '../../shared/activecampaign/hostname.js';
import { nonPublicAddress, type LookupFunction } from '../../shared/http/publicAddress.js';
import { checkConnection } from '../../shared/connections/connectionService.js';
import { readConfig } from '../../shared/config.js';
import { createServices } from '../../shared/services.js';

describe('activeCampaignBaseUrl', () => {
  it('calls an account hostname over https', () => {
    expect(activeCampaignBaseUrl('acme.api-us1.com')).toBe('https://acme.api-us1.com/api/3');
    expect(activeCampaignBaseUrl(' ACME.api-us1.com ')).toBe('https://acme.api-us1.com/api/3');
  });

  it.each([
    ['https://acme.api-us1.com', 'scheme'],
    ['acme.api-us1.com/api/3', 'path'],
    ['acme.api-us1.com:8443', 'port'],
    ['127.0.0.1', 'IP'],
    ['127.0.0.1:8081', 'port'],
    ['[::1]', 'IP'],
    ['localhost', 'hostname'],
    ['user@acme.api-us1.com', 'path'],
    ['acme', 'hostname'],
    ['2130706433', 'hostname'],
    ['metadata.internal', 'local'],
  ])('refuses %s', (hostname, why) => {
    expect(() => activeCampaignBaseUrl(hostname)).toThrow(InvalidHostnameError);
    expect(() => activeCampaignBaseUrl(hostname)).toThrow(new RegExp(why, 'i'));
  });

  it('calls exactly the listed loopback emulators over plain http', () => {
    expect(activeCampaignBaseUrl('127.0.0.1:8081', ['127.0.0.1:8081'])).toBe('http://127.0.0.1:8081/api/3');
    expect(() => activeCampaignBaseUrl('127.0.0.1:8082', ['127.0.0.1:8081'])).toThrow(InvalidHostnameError);
  });
});

describe('names that resolve to addresses no ActiveCampaign account has', () => {
  it.each([
    ['127.0.0.1', 'a loopback'],
    ['10.1.2.3', 'a private'],
    ['172.20.0.1', 'a private'],
    ['192.168.1.1', 'a private'],
    ['169.254.10.20', 'a link-local (cloud metadata)'],
    ['100.64.0.1', 'a shared (carrier-grade NAT)'],
    ['0.0.0.0', 'an unspecified'],
    ['::1', 'a loopback'],
    ['fd00::1', 'a private'],
    ['fe80::1', 'a link-local'],
    ['::ffff:127.0.0.1', 'a loopback'],
  ])('knows %s as %s address', (address, kind) => {
    expect(nonPublicAddress(address)).toBe(kind);
  });

  it.each(['93.184.216.34', '2606:4700::6810:85e5', '172.32.0.1'])('takes %s as public', (address) => {
    expect(nonPublicAddress(address)).toBeUndefined();
  });

  // The fake resolver answers with loopback and private addresses: nothing is ever contacted.
  const resolvingTo =
    (address: string, asked: string[] = []): LookupFunction =>
    (hostname, options, callback) => {
      asked.push(hostname);
      const family = address.includes(':') ? 6 : 4;
      if ((options as { all?: boolean }).all) callback(null, [{ address, family }]);
      else callback(null, address, family);
    };

  it('refuses a request to a name that resolves to loopback, before connecting, at every request', async () => {
    const asked: string[] = [];
    const client = new ActiveCampaignClient('acme.api-us1.com', 'key', {
      lookup: resolvingTo('127.0.0.1', asked),
      timeoutInMs: 2_000,
    });
    await expect(client.getCurrentUser({ patienceInMs: 0 })).rejects.toThrow(InvalidHostnameError);
    await expect(client.getCurrentUser({ patienceInMs: 0 })).rejects.toThrow(
      'The hostname "acme.api-us1.com" resolves to 127.0.0.1, a loopback address, which no ActiveCampaign account has',
    );
    expect(asked).toEqual(['acme.api-us1.com', 'acme.api-us1.com']);
  });

  it('refuses such a connection when it is checked, naming the hostname field', async () => {
    const svc = createServices(readConfig({ ACTIVECAMPAIGN_REQUESTS_PER_SECOND: '0' }), {
      dnsLookup: resolvingTo('10.0.0.7'),
    });
    await expect(checkConnection(svc, { hostname: 'acme.api-us1.com', apiKey: 'key' })).rejects.toMatchObject({
      code: 'InvalidHostname',
      message:
        'hostname: The hostname "acme.api-us1.com" resolves to 10.0.0.7, a private address, which no ActiveCampaign account has',
    });
  });
});
