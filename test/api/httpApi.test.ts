import Ajv2020 from 'ajv/dist/2020.js';
import { TableServiceClient, TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROLE, CONTRIBUTOR_ROLE, principalHeader } from '../../shared/auth/principal.js';
import { openApiDocument } from '../../shared/http/openApiDocument.js';
import { api, startHarness, startRunnerProcess, uploadText, waitFor, type Harness, type RunnerProcess } from '../support/harness.js';

const API_KEY = 'ac-key-SENTINEL-7f3a9c1e5b';
const admin = principalHeader('ada@example.com', [ADMIN_ROLE]);
const contributor = principalHeader('carl@example.com', [CONTRIBUTOR_ROLE]);
const nobody = principalHeader('nora@example.com', []);
const doc = openApiDocument() as { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>> };
const ajv = new Ajv2020.default({ strict: false, allErrors: true });
ajv.addSchema({ ...(doc as unknown as { components: object }), $id: 'api' } as object);

interface Recorded {
  method: string;
  route: string;
  status: number;
  body: unknown;
}

describe('the HTTP API', () => {
  let h: Harness;
  let runner: RunnerProcess;
  const recorded: Recorded[] = [];
  let adminOnly: string;
  let shared: string;
  let adminExport: string;
  let sharedExport: string;

  /** Calls the API and records the answer under its route template, for the OpenAPI check. */
  async function call(method: string, route: string, params: Record<string, string>, body?: unknown, principal?: string) {
    const path = route.replace(/\{(\w+)\}/g, (_, k) => params[k]);
    const res = await api(runner.url, method, path, body, principal ?? null);
    recorded.push({ method: method.toLowerCase(), route, status: res.status, body: res.body });
    return res;
  }

  beforeAll(async () => {
    h = await startHarness({ apiKeys: [API_KEY], requestsPerSecond: 100, bulkImportsPerMinute: 6_000 });
    runner = await startRunnerProcess(h.env);
    await uploadText(h.blobs, 'apitest', 'seg.csv', 'email,name\na@example.com,A\nb@example.com,B\n');
    const base = { hostname: h.emulator.hostname, apiKey: API_KEY, dataPrivacyConsent: true };
    adminOnly = (await call('POST', '/connections', {}, { displayName: 'Admins', ...base }, admin)).body.id;
    shared = (await call('POST', '/connections', {}, { displayName: 'Shared', allowContributors: true, ...base }, admin)).body.id;
    const exportBody = (connectionId: string) => ({ displayName: 'E', connectionId, listId: 1, source: { container: 'apitest', path: 'seg.csv' }, mapping: { email: 'Email', firstName: 'name' } });
    adminExport = (await call('POST', '/exports', {}, exportBody(adminOnly), admin)).body.id;
    sharedExport = (await call('POST', '/exports', {}, exportBody(shared), contributor)).body.id;
  });

  afterAll(async () => {
    await runner?.stop();
    await h?.stop();
  });

  it('created connections without echoing the key, recording consent', async () => {
    const c = await call('GET', '/connections/{id}', { id: adminOnly }, undefined, admin);
    expect(c.body).toMatchObject({ displayName: 'Admins', allowContributors: false, dataPrivacyConsent: { givenBy: 'ada@example.com' } });
    expect(JSON.stringify(c.body)).not.toContain(API_KEY);
  });

  it('walks the authorization matrix: every route × no principal, no role, contributor, admin, contributor on an admin-only connection', async () => {
    const runA = (await call('POST', '/exports/{id}/runs', { id: adminExport }, {}, admin)).body.runId;
    const runS = (await call('POST', '/exports/{id}/runs', { id: sharedExport }, { dryRun: true }, contributor)).body.runId;
    await waitFor('the runs', async () => {
      const a = await api(runner.url, 'GET', `/exports/${adminExport}/runs/${runA}`);
      const s = await api(runner.url, 'GET', `/exports/${sharedExport}/runs/${runS}`);
      return ['completed', 'completedWithErrors'].includes(a.body.status) && ['completed', 'completedWithErrors'].includes(s.body.status) ? true : undefined;
    });
    const newConnection = { displayName: 'N', hostname: h.emulator.hostname, apiKey: API_KEY, dataPrivacyConsent: true };
    const newExport = (connectionId: string) => ({ displayName: 'N', connectionId, listId: 1, source: { container: 'apitest', path: 'seg.csv' }, mapping: { email: 'email' } });
    // [method, route, params, body, no principal, no role, contributor, admin] and, where it differs, the contributor on an admin-only connection.
    const matrix: [string, string, Record<string, string>, unknown, number[], number?][] = [
      ['GET', '/health', {}, undefined, [200, 200, 200, 200]],
      ['GET', '/openapi.json', {}, undefined, [200, 200, 200, 200]],
      ['POST', '/connections', {}, newConnection, [401, 403, 403, 201]],
      ['GET', '/connections', {}, undefined, [401, 403, 200, 200]],
      ['GET', '/connections/{id}', { id: shared }, undefined, [401, 403, 200, 200]],
      ['GET', '/connections/{id}', { id: adminOnly }, undefined, [401, 403, 404, 200], 404],
      ['PATCH', '/connections/{id}', { id: shared }, { displayName: 'Shared (renamed)' }, [401, 403, 403, 200]],
      ['POST', '/exports', {}, newExport(shared), [401, 403, 201, 201]],
      ['POST', '/exports', {}, newExport(adminOnly), [401, 403, 403, 201], 403],
      ['GET', '/exports', {}, undefined, [401, 403, 200, 200]],
      ['GET', '/exports/{id}', { id: sharedExport }, undefined, [401, 403, 200, 200]],
      ['GET', '/exports/{id}', { id: adminExport }, undefined, [401, 403, 404, 200], 404],
      ['GET', '/exports/{id}/runs', { id: sharedExport }, undefined, [401, 403, 200, 200]],
      ['GET', '/exports/{id}/runs', { id: adminExport }, undefined, [401, 403, 404, 200], 404],
      ['GET', '/exports/{id}/runs/{runId}', { id: sharedExport, runId: runS }, undefined, [401, 403, 200, 200]],
      ['GET', '/exports/{id}/runs/{runId}', { id: adminExport, runId: runA }, undefined, [401, 403, 404, 200], 404],
      ['POST', '/exports/{id}/runs', { id: adminExport }, { dryRun: true }, [401, 403, 404, 202], 404],
      ['DELETE', '/exports/{id}', { id: adminExport }, undefined, [401, 403, 404, 204], 404],
      ['DELETE', '/connections/{id}', { id: shared }, undefined, [401, 403, 403, 409]],
    ];
    const principals = [undefined, nobody, contributor, admin];
    for (const [method, route, params, body, expected] of matrix) {
      const got: number[] = [];
      for (const p of principals) got.push((await call(method, route, params, body, p)).status);
      expect(got, `${method} ${route} ${JSON.stringify(params)}`).toEqual(expected);
    }
    // The contributor's view of lists holds only what its connections allow.
    const list = await call('GET', '/connections', {}, undefined, contributor);
    expect(list.body.value.map((c: { id: string }) => c.id)).not.toContain(adminOnly);
    const exports = await call('GET', '/exports', {}, undefined, contributor);
    expect(exports.body.value.every((e: { connectionId: string }) => e.connectionId === shared)).toBe(true);
  });

  it('answers bad bodies with 400 naming the field, never 500', async () => {
    const cases: [unknown, RegExp][] = [
      ['{not json', /not valid JSON/],
      [{ displayName: 'x', hostname: 'acme.api-us1.com', apiKey: 'k', dataPrivacyConsent: 'yes' }, /^dataPrivacyConsent: /],
      [{ displayName: 'x', hostname: 'acme.api-us1.com', apiKey: 'k', dataPrivacyConsent: true, extra: 1 }, /extra/],
      [{ displayName: 42, hostname: 'acme.api-us1.com', apiKey: 'k', dataPrivacyConsent: true }, /^displayName: /],
      [{ displayName: 'x', hostname: 'acme.api-us1.com', apiKey: 'k' }, /dataPrivacyConsent: must be true/],
      [{ displayName: 'x', hostname: 'https://acme.api-us1.com', apiKey: 'k', dataPrivacyConsent: true }, /scheme/],
      [{ displayName: 'x', hostname: '10.0.0.8', apiKey: 'k', dataPrivacyConsent: true }, /IP address/],
      [{ displayName: 'x'.repeat(70_000), hostname: 'a.example.com', apiKey: 'k', dataPrivacyConsent: true }, /larger than/],
      [{ displayName: 'x', hostname: h.emulator.hostname, apiKey: 'wrong-key', dataPrivacyConsent: true }, /did not accept the API key/],
      [{ displayName: 'x', hostname: '127.0.0.1:1', apiKey: 'k', dataPrivacyConsent: true }, /port/],
    ];
    for (const [body, message] of cases) {
      const res = await fetch(`${runner.url}/connections`, {
        method: 'POST',
        headers: { 'x-ms-client-principal': admin, 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const json = (await res.json()) as { error: { message: string } };
      expect(res.status, JSON.stringify(json)).toBe(400);
      expect(json.error.message).toMatch(message);
    }
    const exportCases: [unknown, RegExp][] = [
      [{ displayName: 'x', connectionId: shared, listId: 99, source: { container: 'apitest', path: 'seg.csv' }, mapping: { email: 'email' } }, /list 99 does not exist/],
      [{ displayName: 'x', connectionId: shared, listId: 1, source: { container: 'apitest', path: 'seg.csv' }, mapping: { email: 'email', fields: { '77': 'name' } } }, /no custom field with id 77/],
      [{ displayName: 'x', connectionId: shared, listId: 1, source: { container: 'apitest', path: 'seg.csv' }, mapping: { email: 'mail' } }, /no email column "mail"/],
      [{ displayName: 'x', connectionId: shared, listId: 'one', source: { container: 'apitest', path: 'seg.csv' }, mapping: { email: 'email' } }, /^listId: /],
      [{ displayName: 'x', connectionId: shared, listId: 1, source: { container: 'apitest', path: 'seg.csv' }, mapping: {} }, /^mapping.email: /],
      [{ displayName: 'x', connectionId: 'nope', listId: 1, source: { container: 'apitest', path: 'seg.csv' }, mapping: { email: 'email' } }, /connection nope does not exist/],
    ];
    for (const [body, message] of exportCases) {
      const res = await call('POST', '/exports', {}, body, admin);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
  });

  it('replaces a key without recreating the connection, checking it first', async () => {
    const bad = await call('PATCH', '/connections/{id}', { id: adminOnly }, { apiKey: 'not-the-key' }, admin);
    expect(bad.status).toBe(400);
    const good = await call('PATCH', '/connections/{id}', { id: adminOnly }, { apiKey: API_KEY }, admin);
    expect(good.status).toBe(200);
    expect(JSON.stringify(good.body)).not.toContain(API_KEY);
  });

  it('deletes a connection and its key once unused', async () => {
    const c = await call('POST', '/connections', {}, { displayName: 'Tmp', hostname: h.emulator.hostname, apiKey: API_KEY, dataPrivacyConsent: true }, admin);
    const secretFile = `${h.env.LOCAL_SECRETS_DIR}/ac-api-key-${c.body.id}`;
    const { existsSync } = await import('node:fs');
    expect(existsSync(secretFile)).toBe(true);
    expect((await call('DELETE', '/connections/{id}', { id: c.body.id }, undefined, admin)).status).toBe(204);
    expect(existsSync(secretFile)).toBe(false);
    expect((await call('GET', '/connections/{id}', { id: c.body.id }, undefined, admin)).status).toBe(404);
  });

  it('answers every route as the OpenAPI document says (status codes and body shapes)', () => {
    const seen = new Set<string>();
    for (const r of recorded) {
      const operation = doc.paths[r.route]?.[r.method];
      expect(operation, `${r.method} ${r.route} is not in the document`).toBeDefined();
      const response = operation.responses[String(r.status)];
      expect(response, `${r.method} ${r.route} answered ${r.status}, which the document does not list`).toBeDefined();
      const schema = response.content?.['application/json']?.schema;
      if (schema) {
        const resolved = JSON.parse(JSON.stringify(schema).replace(/"#\/components/g, '"api#/components'));
        expect(ajv.validate(resolved, r.body), `${r.method} ${r.route} ${r.status}: ${ajv.errorsText()}`).toBe(true);
      } else {
        expect(r.body).toBeUndefined();
      }
      seen.add(`${r.method} ${r.route}`);
    }
    const documented = Object.entries(doc.paths).flatMap(([route, ops]) => Object.keys(ops).filter((m) => m !== 'parameters').map((m) => `${m} ${route}`));
    expect([...seen].sort()).toEqual(documented.sort());
  });

  it('serves the same document as openapi.json in the repository', async () => {
    const { readFileSync } = await import('node:fs');
    const file = JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8'));
    expect(file).toEqual(openApiDocument());
    expect((await api(runner.url, 'GET', '/openapi.json', undefined, null)).body).toEqual(file);
  });

  it('never lets the API key into a response, a log line or a table entity', async () => {
    for (const r of recorded) expect(JSON.stringify(r.body) ?? '').not.toContain(API_KEY);
    expect(runner.output()).not.toContain(API_KEY);
    const tables = TableServiceClient.fromConnectionString(h.azurite.connectionString, { allowInsecureConnection: true });
    let entities = 0;
    for await (const t of tables.listTables()) {
      const table = TableClient.fromConnectionString(h.azurite.connectionString, t.name!, { allowInsecureConnection: true });
      for await (const e of table.listEntities()) {
        entities++;
        expect(JSON.stringify(e)).not.toContain(API_KEY);
      }
    }
    expect(entities).toBeGreaterThan(5);
  });
});
