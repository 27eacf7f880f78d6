import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { AccessToken, TokenCredential } from '@azure/core-auth';

export const FAKE_TOKEN = 'fake-access-token';

/** A credential that hands out a fixed token and never calls any identity endpoint. */
export const fakeCredential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: FAKE_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

/**
 * A loopback Key Vault with the secrets REST surface SecretClient uses: the challenge flow (401
 * with WWW-Authenticate, then a bearer token), set, get, delete and get-deleted.
 */
export class FakeKeyVault {
  readonly secrets = new Map<string, { value: string; version: string; contentType?: string }>();
  readonly deleted = new Map<string, { value: string }>();
  readonly log: { method: string; path: string; status: number; authorized: boolean }[] = [];
  #server = createServer((req, res) => void this.#handle(req, res));
  url = '';

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', this.url);
    const authorized = req.headers.authorization === `Bearer ${FAKE_TOKEN}`;
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      this.log.push({ method: req.method ?? '', path: url.pathname, status, authorized });
      res
        .writeHead(status, { 'content-type': 'application/json', ...headers })
        .end(body === undefined ? '' : JSON.stringify(body));
    };
    if (!url.searchParams.get('api-version'))
      return send(400, { error: { code: 'MissingApiVersionParameter', message: 'api-version is required' } });
    if (!authorized) {
      return send(
        401,
        { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } },
        {
          'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"`,
        },
      );
    }
    const [, collection, name] = url.pathname.split('/');
    const bundle = (n: string, s: { value: string; version: string; contentType?: string }) => ({
      value: s.value,
      contentType: s.contentType,
      id: `${this.url}/secrets/${n}/${s.version}`,
      attributes: {
        enabled: true,
        created: 1_700_000_000,
        updated: 1_700_000_000,
        recoveryLevel: 'Recoverable+Purgeable',
      },
    });
    const notFound = () =>
      send(404, {
        error: { code: 'SecretNotFound', message: `A secret with (name/id) ${name} was not found in this key vault.` },
      });
    if (collection === 'secrets' && req.method === 'PUT') {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const secret = { value: body.value, version: randomUUID().replace(/-/g, ''), contentType: body.contentType };
      this.secrets.set(name, secret);
      return send(200, bundle(name, secret));
    }
    if (collection === 'secrets' && req.method === 'GET') {
      const secret = this.secrets.get(name);
      return secret ? send(200, bundle(name, secret)) : notFound();
    }
    if (collection === 'secrets' && req.method === 'DELETE') {
      const secret = this.secrets.get(name);
      if (!secret) return notFound();
      this.secrets.delete(name);
      this.deleted.set(name, secret);
      return send(200, {
        ...bundle(name, secret),
        value: undefined,
        recoveryId: `${this.url}/deletedsecrets/${name}`,
        deletedDate: 1_700_000_100,
        scheduledPurgeDate: 1_800_000_000,
      });
    }
    if (collection === 'deletedsecrets' && req.method === 'GET') {
      const secret = this.deleted.get(name);
      if (!secret) return notFound();
      return send(200, {
        id: `${this.url}/secrets/${name}`,
        recoveryId: `${this.url}/deletedsecrets/${name}`,
        deletedDate: 1_700_000_100,
        attributes: { enabled: true },
      });
    }
    return send(405, { error: { code: 'BadRequest', message: 'Not supported by the fake' } });
  }
}
