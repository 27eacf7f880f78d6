import { describe, expect, it } from 'vitest';
import { InvalidHostnameError } from '../../shared/activecampaign/errors.js';
import { activeCampaignBaseUrl } from '../../shared/activecampaign/hostname.js';

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
