import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import got, { RequestError } from 'got';
import { InvalidRequestError } from '../errors.js';
import { NON_PUBLIC_ADDRESS, nonPublicAddress, publicOnlyLookup, type LookupFunction } from '../http/publicAddress.js';
import { SIGNATURE_HEADER, signatureHeader } from './signature.js';
import type { WebhookEvent } from './webhookModel.js';

/** How long a receiver may take to answer one delivery. */
export const DELIVERY_TIMEOUT_IN_MS = 10_000;

const refused = (message: string) => new InvalidRequestError('InvalidWebhookUrl', `url: ${message}`);

/** Whether a URL's `host:port` is an entry of WEBHOOK_INSECURE_HOSTS (a receiver on this machine, for development). */
const isInsecureEntry = (url: URL, insecureHosts: readonly string[]) =>
  insecureHosts.includes(`${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`.toLowerCase());

/**
 * The endpoint a webhook may be sent to: an https URL of a public name or address, without
 * credentials. Plain http, this machine, private networks, link-local (cloud metadata) and local
 * names are refused, except an exact `host:port` of WEBHOOK_INSECURE_HOSTS (local development).
 */
export function checkWebhookUrl(raw: string, insecureHosts: readonly string[] = []): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw refused(`"${raw}" is not a URL such as https://hooks.example.com/segment-export`);
  }
  if (isInsecureEntry(url, insecureHosts)) return url;
  if (url.protocol !== 'https:')
    throw refused(`the URL must start with https:// (the events carry contact counts and are signed), got "${raw}"`);
  if (url.username || url.password) throw refused('the URL must not hold a user name or password');
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (isIP(host)) {
    const kind = nonPublicAddress(host);
    if (kind) throw refused(`${host} is ${kind} address; a webhook goes to a public endpoint`);
    return url;
  }
  if (host === 'localhost' || /\.(localhost|local|internal|home\.arpa)$/.test(host) || !host.includes('.'))
    throw refused(`"${host}" names a local network; a webhook goes to a public endpoint`);
  return url;
}

/**
 * Resolves the URL's name now and refuses it when it resolves to an address that is not public (the
 * same is checked again at every delivery: a name can be pointed elsewhere later).
 */
export async function checkResolvesPublic(
  url: URL,
  options: { insecureHosts?: readonly string[]; lookup?: LookupFunction } = {},
): Promise<void> {
  if (isInsecureEntry(url, options.insecureHosts ?? []) || isIP(url.hostname.replace(/^\[|\]$/g, ''))) return;
  const lookup = publicOnlyLookup(options.lookup ?? dnsLookup, 'public webhook endpoint');
  await new Promise<void>((resolve, reject) =>
    lookup(url.hostname, { all: true }, (error, found) => {
      if (!error) return resolve(void (found as LookupAddress[]));
      if (error.code === NON_PUBLIC_ADDRESS) return reject(refused(error.message));
      reject(refused(`"${url.hostname}" could not be resolved (${error.code ?? error.message}); check the name`));
    }),
  );
}

export interface DeliveryResult {
  ok: boolean;
  status?: number;
  error?: string;
}

/**
 * Posts one signed event. Never throws: the outcome says whether the receiver took it (a 2xx). A
 * redirect is not followed (it could lead anywhere) and counts as a failure.
 */
export async function postEvent(
  url: string,
  secret: string,
  event: WebhookEvent,
  options: { insecureHosts?: readonly string[]; lookup?: LookupFunction; signal?: AbortSignal } = {},
): Promise<DeliveryResult> {
  const body = JSON.stringify(event);
  let target: URL;
  try {
    target = checkWebhookUrl(url, options.insecureHosts);
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
  const insecure = isInsecureEntry(target, options.insecureHosts ?? []);
  try {
    const response = await got.post(target, {
      body,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'segment-export-activecampaign',
        [SIGNATURE_HEADER]: signatureHeader(secret, body),
        'Segment-Export-Event': event.type,
        'Segment-Export-Delivery': event.id,
      },
      ...(insecure ? {} : { dnsLookup: publicOnlyLookup(options.lookup, 'public webhook endpoint') }),
      timeout: { request: DELIVERY_TIMEOUT_IN_MS },
      retry: { limit: 0 },
      followRedirect: false,
      throwHttpErrors: false,
      signal: options.signal,
    });
    const ok = response.statusCode >= 200 && response.statusCode < 300;
    return ok
      ? { ok, status: response.statusCode }
      : {
          ok,
          status: response.statusCode,
          error:
            response.statusCode >= 300 && response.statusCode < 400
              ? `the endpoint answered ${response.statusCode} (a redirect, which is not followed): give the final URL`
              : `the endpoint answered ${response.statusCode}`,
        };
  } catch (error) {
    const code = (error as RequestError).code;
    if (code === NON_PUBLIC_ADDRESS || (error as { cause?: { code?: string } }).cause?.code === NON_PUBLIC_ADDRESS)
      return { ok: false, error: (error as Error).message };
    if (code === 'ETIMEDOUT')
      return { ok: false, error: `the endpoint did not answer within ${DELIVERY_TIMEOUT_IN_MS / 1000} s` };
    return { ok: false, error: `the endpoint could not be reached (${code ?? (error as Error).message})` };
  }
}
