import Ajv2020 from 'ajv/dist/2020.js';
import { TableServiceClient, TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROLE, CONTRIBUTOR_ROLE, principalHeader } from '../../shared/auth/principal.js';
import { openApiDocument } from '../../shared/http/openApiDocument.js';
import { WebhookReceiver } from '../support/webhookReceiver.js';
import {
  api,
  startHarness,
  startRunnerProcess,
  uploadText,
  waitFor,
  type Harness,
  type RunnerProcess,
} from '../support/harness.js';

const API_KEY = 'ac-key-SENTINEL-7f3a9c1e5b';
const admin = principalHeader('ada@example.com', [ADMIN_ROLE]);
const contributor = principalHeader('carl@example.com', [CONTRIBUTOR_ROLE]);
const nobody = principalHeader('nora@example.com', []);
const doc = openApiDocument() as {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>
  >;
};
const ajv = new Ajv2020.default({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema({ ...(doc as unknown as { components: object }), $id: 'api' });

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
  let receiver: WebhookReceiver;

  /** Calls the API and records the answer under its route template, for the OpenAPI check. */
  async function call(
    method: string,
    route: string,
    params: Record<string, string>,
    body?: unknown,
    principal?: string,
  ) {
    const path = route.replace(/\{(\w+)\}/g, (_, k) => params[k]);
    const res = await api(runner.url, method, path, body, principal ?? null);
    recorded.push({ method: method.toLowerCase(), route, status: res.status, body: res.body });
    return res;
  }

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    h = await startHarness(
      { apiKeys: [API_KEY], requestsPerSecond: 100, bulkImportsPerMinute: 6_000 },
      { WEBHOOK_INSECURE_HOSTS: receiver.host },
    );
    // Runs start when asked: blob events (on by default in npm start) would start runs of exports set to refresh.
    runner = await startRunnerProcess(h.env, ['--triggers', 'http,timer,queue']);
    await uploadText(h.blobs, 'apitest', 'seg.csv', 'email,name\na@example.com,A\nb@example.com,B\nnot-an-email,C\n');
    const base = { hostname: h.emulator.hostname, apiKey: API_KEY, dataPrivacyConsent: true };
    adminOnly = (await call('POST', '/connections', {}, { displayName: 'Admins', ...base }, admin)).body.id;
    shared = (
      await call('POST', '/connections', {}, { displayName: 'Shared', allowContributors: true, ...base }, admin)
    ).body.id;
    const exportBody = (connectionId: string) => ({
      displayName: 'E',
      connectionId,
      listId: 1,
      source: { container: 'apitest', path: 'seg.csv' },
      mapping: { email: 'Email', firstName: 'name' },
    });
    adminExport = (await call('POST', '/exports', {}, exportBody(adminOnly), admin)).body.id;
    sharedExport = (await call('POST', '/exports', {}, exportBody(shared), contributor)).body.id;
  });

  afterAll(async () => {
    await runner?.stop();
    await h?.stop();
    await receiver?.close();
  });

  it('created connections without echoing the key, recording consent', async () => {
    const c = await call('GET', '/connections/{id}', { id: adminOnly }, undefined, admin);
    expect(c.body).toMatchObject({
      displayName: 'Admins',
      allowContributors: false,
      dataPrivacyConsent: { givenBy: 'ada@example.com' },
    });
    expect(JSON.stringify(c.body)).not.toContain(API_KEY);
  });

  it('walks the authorization matrix: every route × no principal, no role, contributor, admin, contributor on an admin-only connection', async () => {
    const runA = (await call('POST', '/exports/{id}/runs', { id: adminExport }, {}, admin)).body.runId;
    const runS = (await call('POST', '/exports/{id}/runs', { id: sharedExport }, { dryRun: true }, contributor)).body
      .runId;
    await waitFor('the runs', async () => {
      const a = await api(runner.url, 'GET', `/exports/${adminExport}/runs/${runA}`);
      const s = await api(runner.url, 'GET', `/exports/${sharedExport}/runs/${runS}`);
      return ['completed', 'completedWithErrors'].includes(a.body.status) &&
        ['completed', 'completedWithErrors'].includes(s.body.status)
        ? true
        : undefined;
    });
    const newConnection = {
      displayName: 'N',
      hostname: h.emulator.hostname,
      apiKey: API_KEY,
      dataPrivacyConsent: true,
    };
    const newExport = (connectionId: string) => ({
      displayName: 'N',
      connectionId,
      listId: 1,
      source: { container: 'apitest', path: 'seg.csv' },
      mapping: { email: 'email' },
    });
    const preview = { container: 'apitest', path: 'seg.csv' };
    const newList = {
      name: 'Spring sale',
      senderUrl: 'https://shop.example.com',
      senderReminder: 'You bought from us.',
    };
    const webhook = (await call('POST', '/webhooks', {}, { url: receiver.url, events: ['run.failed'] }, admin)).body.id;
    // [method, route, params, body, no principal, no role, contributor, admin] and, where it differs, the contributor
    // on an admin-only connection.
    const matrix: [string, string, Record<string, string>, unknown, number[], number?][] = [
      ['GET', '/health', {}, undefined, [200, 200, 200, 200]],
      ['GET', '/openapi.json', {}, undefined, [200, 200, 200, 200]],
      ['GET', '/me', {}, undefined, [401, 200, 200, 200]],
      ['POST', '/connections', {}, newConnection, [401, 403, 403, 201]],
      ['POST', '/connections/check', {}, { hostname: h.emulator.hostname, apiKey: API_KEY }, [401, 403, 403, 200]],
      ['GET', '/connections', {}, undefined, [401, 403, 200, 200]],
      ['GET', '/connections/{id}', { id: shared }, undefined, [401, 403, 200, 200]],
      ['GET', '/connections/{id}', { id: adminOnly }, undefined, [401, 403, 404, 200], 404],
      ['GET', '/connections/{id}/lists', { id: shared }, undefined, [401, 403, 200, 200]],
      ['GET', '/connections/{id}/lists', { id: adminOnly }, undefined, [401, 403, 404, 200], 404],
      ['GET', '/connections/{id}/fields', { id: shared }, undefined, [401, 403, 200, 200]],
      ['POST', '/connections/{id}/lists', { id: shared }, newList, [401, 403, 201, 201]],
      ['POST', '/connections/{id}/lists', { id: adminOnly }, newList, [401, 403, 404, 201], 404],
      ['GET', '/connections/{id}/fields', { id: adminOnly }, undefined, [401, 403, 404, 200], 404],
      ['PATCH', '/connections/{id}', { id: shared }, { displayName: 'Shared (renamed)' }, [401, 403, 403, 200]],
      ['POST', '/sources/preview', {}, preview, [401, 403, 200, 200]],
      ['POST', '/exports', {}, newExport(shared), [401, 403, 201, 201]],
      ['POST', '/exports', {}, newExport(adminOnly), [401, 403, 403, 201], 403],
      ['GET', '/exports', {}, undefined, [401, 403, 200, 200]],
      ['GET', '/exports/{id}', { id: sharedExport }, undefined, [401, 403, 200, 200]],
      ['GET', '/exports/{id}', { id: adminExport }, undefined, [401, 403, 404, 200], 404],
      ['PATCH', '/exports/{id}', { id: sharedExport }, { displayName: 'E (renamed)' }, [401, 403, 200, 200]],
      ['PATCH', '/exports/{id}', { id: adminExport }, { displayName: 'E (renamed)' }, [401, 403, 404, 200], 404],
      ['GET', '/exports/{id}/runs', { id: sharedExport }, undefined, [401, 403, 200, 200]],
      ['GET', '/exports/{id}/runs', { id: adminExport }, undefined, [401, 403, 404, 200], 404],
      ['GET', '/exports/{id}/runs/{runId}', { id: sharedExport, runId: runS }, undefined, [401, 403, 200, 200]],
      ['GET', '/exports/{id}/runs/{runId}', { id: adminExport, runId: runA }, undefined, [401, 403, 404, 200], 404],
      [
        'GET',
        '/exports/{id}/runs/{runId}/rejected',
        { id: sharedExport, runId: runS },
        undefined,
        [401, 403, 200, 200],
      ],
      [
        'GET',
        '/exports/{id}/runs/{runId}/rejected',
        { id: adminExport, runId: runA },
        undefined,
        [401, 403, 404, 200],
        404,
      ],
      ['GET', '/exports/{id}/runs/{runId}/sample', { id: sharedExport, runId: runS }, undefined, [401, 403, 200, 200]],
      [
        'GET',
        '/exports/{id}/runs/{runId}/sample',
        { id: adminExport, runId: runA },
        undefined,
        [401, 403, 404, 404],
        404,
      ],
      ['GET', '/exports/{id}/runs/{runId}/changes', { id: sharedExport, runId: runS }, undefined, [401, 403, 200, 200]],
      [
        'GET',
        '/exports/{id}/runs/{runId}/changes',
        { id: adminExport, runId: runA },
        undefined,
        [401, 403, 404, 200],
        404,
      ],
      ['GET', '/audit', {}, undefined, [401, 403, 403, 200]],
      ['POST', '/erasures', {}, { email: 'nobody@example.com', action: 'delete' }, [401, 403, 403, 201]],
      ['GET', '/erasures', {}, undefined, [401, 403, 403, 200]],
      ['GET', '/webhooks', {}, undefined, [401, 403, 403, 200]],
      ['POST', '/webhooks', {}, { url: receiver.url }, [401, 403, 403, 201]],
      ['POST', '/webhooks/{id}/test', { id: webhook }, undefined, [401, 403, 403, 200]],
      ['DELETE', '/webhooks/{id}', { id: webhook }, undefined, [401, 403, 403, 204]],
      ['POST', '/exports/{id}/runs/{runId}/cancel', { id: sharedExport, runId: runS }, undefined, [401, 403, 409, 409]],
      [
        'POST',
        '/exports/{id}/runs/{runId}/cancel',
        { id: adminExport, runId: runA },
        undefined,
        [401, 403, 404, 409],
        404,
      ],
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
      [
        { displayName: 'x', hostname: 'acme.api-us1.com', apiKey: 'k', dataPrivacyConsent: 'yes' },
        /^dataPrivacyConsent: /,
      ],
      [{ displayName: 'x', hostname: 'acme.api-us1.com', apiKey: 'k', dataPrivacyConsent: true, extra: 1 }, /extra/],
      [{ displayName: 42, hostname: 'acme.api-us1.com', apiKey: 'k', dataPrivacyConsent: true }, /^displayName: /],
      [{ displayName: 'x', hostname: 'acme.api-us1.com', apiKey: 'k' }, /dataPrivacyConsent: must be true/],
      [{ displayName: 'x', hostname: 'https://acme.api-us1.com', apiKey: 'k', dataPrivacyConsent: true }, /scheme/],
      [{ displayName: 'x', hostname: '10.0.0.8', apiKey: 'k', dataPrivacyConsent: true }, /IP address/],
      [
        { displayName: 'x'.repeat(70_000), hostname: 'a.example.com', apiKey: 'k', dataPrivacyConsent: true },
        /larger than/,
      ],
      [
        { displayName: 'x', hostname: h.emulator.hostname, apiKey: 'wrong-key', dataPrivacyConsent: true },
        /did not accept the API key/,
      ],
      [{ displayName: 'x', hostname: '127.0.0.1:1', apiKey: 'k', dataPrivacyConsent: true }, /port/],
      // A key pasted with a line break in it is the key's fault, not "ActiveCampaign could not be reached".
      [
        { displayName: 'x', hostname: h.emulator.hostname, apiKey: 'emulator-api-key\n0123', dataPrivacyConsent: true },
        /^apiKey: must be the key as ActiveCampaign shows it/,
      ],
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
    const listCases: [unknown, RegExp][] = [
      [{ name: ' ', senderUrl: 'https://shop.example.com', senderReminder: 'r' }, /^name: /],
      [{ name: 'L', senderUrl: 'not a url', senderReminder: 'r' }, /^senderUrl: /],
      [{ name: 'L', senderUrl: 'javascript:alert(1)', senderReminder: 'r' }, /^senderUrl: /],
      [{ name: 'L', senderUrl: 'https://shop.example.com' }, /^senderReminder: /],
    ];
    for (const [body, message] of listCases) {
      const res = await call('POST', '/connections/{id}/lists', { id: shared }, body, admin);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
    const exportCases: [unknown, RegExp][] = [
      [
        {
          displayName: 'x',
          connectionId: shared,
          listId: 99,
          source: { container: 'apitest', path: 'seg.csv' },
          mapping: { email: 'email' },
        },
        /list 99 does not exist/,
      ],
      [
        {
          displayName: 'x',
          connectionId: shared,
          listId: 1,
          source: { container: 'apitest', path: 'seg.csv' },
          mapping: { email: 'email', fields: { '77': 'name' } },
        },
        /no custom field with id 77/,
      ],
      [
        {
          displayName: 'x',
          connectionId: shared,
          listId: 1,
          source: { container: 'apitest', path: 'seg.csv' },
          mapping: { email: 'mail' },
        },
        /no email column "mail"/,
      ],
      [
        {
          displayName: 'x',
          connectionId: shared,
          listId: 'one',
          source: { container: 'apitest', path: 'seg.csv' },
          mapping: { email: 'email' },
        },
        /^listId: /,
      ],
      [
        {
          displayName: 'x',
          connectionId: shared,
          listId: 1,
          source: { container: 'apitest', path: 'seg.csv' },
          mapping: {},
        },
        /^mapping.email: /,
      ],
      [
        {
          displayName: 'x',
          connectionId: 'nope',
          listId: 1,
          source: { container: 'apitest', path: 'seg.csv' },
          mapping: { email: 'email' },
        },
        /connection nope does not exist/,
      ],
      [
        {
          displayName: 'x',
          connectionId: shared,
          listId: 1,
          source: { container: 'apitest', path: 'seg.csv' },
          mapping: { email: 'email' },
          tags: ['VIP\u0000'],
        },
        /^tags.0: the tag "VIP\\u0000" contains a control character/,
      ],
    ];
    for (const [body, message] of exportCases) {
      const res = await call('POST', '/exports', {}, body, admin);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
  });

  it('answers wrong ids, paths, principals and content types with 4xx and a message, never 500', async () => {
    const raw = (method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}) =>
      fetch(`${runner.url}${path}`, {
        method,
        headers: { 'x-ms-client-principal': admin, ...init.headers },
        body: init.body,
      });
    // An id that is not ours never reaches a table key.
    for (const path of [
      '/exports/a%2Fb',
      "/exports/x'y",
      '/connections/a%2Fb',
      `/exports/${sharedExport}/runs/not-a-run`,
      `/exports/${sharedExport}/runs/..%2F..`,
    ]) {
      const res = await raw('GET', path);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NotFound');
    }
    expect((await raw('GET', '/exports/%E0%A4%A')).status).toBe(400);
    // A principal whose claims hold nonsense is a caller without a role, not a crash.
    const odd = Buffer.from(
      JSON.stringify({ auth_typ: 'aad', claims: [null, 7, { typ: null }, { typ: 'roles', val: ['Exports.Admin'] }] }),
    ).toString('base64');
    expect((await fetch(`${runner.url}/exports`, { headers: { 'x-ms-client-principal': odd } })).status).toBe(403);
    expect(
      (await fetch(`${runner.url}/exports`, { headers: { 'x-ms-client-principal': '%%%not base64' } })).status,
    ).toBe(401);
    // A cross-site form cannot send JSON: every state-changing call refuses any other content type.
    const exp = JSON.stringify({
      displayName: 'x',
      connectionId: shared,
      listId: 1,
      source: { container: 'apitest', path: 'seg.csv' },
      mapping: { email: 'email' },
    });
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      undefined,
    ]) {
      const headers: Record<string, string> = type ? { 'content-type': type } : {};
      const post = await raw('POST', '/exports', { headers, body: exp });
      expect(post.status, String(type)).toBe(415);
      expect(((await post.json()) as { error: { message: string } }).error.message).toMatch(
        /content-type: application\/json/,
      );
    }
    expect((await raw('DELETE', `/exports/${sharedExport}`)).status).toBe(415);
    expect((await raw('POST', `/exports/${sharedExport}/runs`)).status).toBe(415);
    expect(
      (await raw('POST', '/exports', { headers: { 'content-type': 'application/json; charset=utf-8' }, body: exp }))
        .status,
    ).toBe(201);
  });

  it('keeps sources inside the containers exports may read, and refuses wrong input in small ways', async () => {
    const body = (patch: Record<string, unknown>) => ({
      displayName: 'x',
      connectionId: shared,
      listId: 1,
      source: { container: 'apitest', path: 'seg.csv' },
      mapping: { email: 'email' },
      ...patch,
    });
    await uploadText(h.blobs, 'apitest', 'dup/seg.csv', 'email,name,email\na@example.com,A,b@example.com\n');
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { source: { container: 'export-runs', path: 'runs' } },
        /^source.container: the container "export-runs" belongs to the app/,
      ],
      [{ source: { container: 'azure-webjobs-hosts', path: '' } }, /belongs to the app or the Functions host/],
      [
        { source: { container: 'Bad_Name!', path: 'x' } },
        /^source.container: "Bad_Name!" is not a valid container name/,
      ],
      [
        { source: { container: 'apitest', path: '../export-runs/runs' } },
        /^source.path: the path contains a "\." or "\.\." segment/,
      ],
      [{ source: { container: 'apitest', path: 'a\\b' } }, /backslash/],
      [{ source: { container: 'apitest', path: 'a\u0000b' } }, /control character/],
      [{ listId: 2_147_483_648 }, /^listId: /],
      [{ listId: 0 }, /^listId: /],
      [
        { mapping: { email: 'email', fields: { __proto__: 'name' } } },
        /"__proto__" is not an ActiveCampaign custom field id/,
      ],
      [{ source: { container: 'apitest', path: 'dup/seg.csv' } }, /names the column "email" twice/],
    ];
    for (const [patch, message] of cases) {
      // JSON.stringify keeps an own "__proto__" key only when it is one: build that body by hand.
      const text = JSON.stringify(body(patch)).replace('"fields":{}', '"fields":{"__proto__":"name"}');
      const res = await fetch(`${runner.url}/exports`, {
        method: 'POST',
        headers: { 'x-ms-client-principal': admin, 'content-type': 'application/json' },
        body: text,
      });
      const json = (await res.json()) as { error: { message: string } };
      expect(res.status, JSON.stringify(patch)).toBe(400);
      expect(json.error.message).toMatch(message);
    }
    // A preview of an app container is refused the same way.
    const res = await api(runner.url, 'POST', '/sources/preview', { container: 'export-runs', path: '' }, admin);
    expect(res.status).toBe(400);
  });

  it('previews a Common Data Model folder still being written as a start of a run would see it: not ready, and when to look again (was a 500)', async () => {
    const model = {
      entities: [
        {
          name: 'Vip',
          attributes: [{ name: 'email' }],
          partitions: [1, 2].map((n) => ({
            location: `https://acct.blob.core.windows.net/apitest/writing/part${n}.csv`,
          })),
        },
      ],
    };
    await uploadText(h.blobs, 'apitest', 'writing/part1.csv', 'email\na@example.com\n');
    await uploadText(h.blobs, 'apitest', 'writing/model.json', JSON.stringify(model));
    const res = await api(runner.url, 'POST', '/sources/preview', { container: 'apitest', path: 'writing' }, admin);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      layout: 'cdm',
      ready: false,
      files: [],
      rows: [],
      retryAfterSeconds: expect.any(Number),
    });
    expect(res.body.problem).toMatch(/names the partition apitest\/writing\/part2.csv, which does not exist \(yet\)/);
  });

  it('pages the run history newest first, and streams rejected rows as a CSV attachment', async () => {
    for (let i = 0; i < 2; i++) {
      const started = await api(runner.url, 'POST', `/exports/${sharedExport}/runs`, { dryRun: true }, admin);
      expect(started.status).toBe(202);
      await waitFor('the dry run', async () =>
        (await api(runner.url, 'GET', `/exports/${sharedExport}/runs/${started.body.runId}`)).body.finishedAt
          ? true
          : undefined,
      );
    }
    const all = (await api(runner.url, 'GET', `/exports/${sharedExport}/runs`, undefined, admin)).body.value as {
      runId: string;
      startedAt: string;
    }[];
    expect(all.length).toBeGreaterThanOrEqual(3);
    expect([...all].sort((a, b) => b.startedAt.localeCompare(a.startedAt)).map((r) => r.runId)).toEqual(
      all.map((r) => r.runId),
    );
    const first = await api(runner.url, 'GET', `/exports/${sharedExport}/runs?top=2`, undefined, admin);
    expect(first.body.value).toHaveLength(2);
    expect(first.body.continuationToken).toBeTruthy();
    const next = await api(
      runner.url,
      'GET',
      `/exports/${sharedExport}/runs?top=2&continuationToken=${encodeURIComponent(first.body.continuationToken)}`,
      undefined,
      admin,
    );
    expect(next.body.value[0].runId).toBe(all[2].runId);
    expect((await api(runner.url, 'GET', `/exports/${sharedExport}/runs?top=0`, undefined, admin)).status).toBe(400);
    // A token this API did not give for this export is a wrong request, not a crash (it was a 500).
    for (const token of [
      'garbage',
      Buffer.from('null').toString('base64'),
      Buffer.from('{"nextRowKey":7}').toString('base64'),
    ]) {
      const res = await api(
        runner.url,
        'GET',
        `/exports/${sharedExport}/runs?continuationToken=${encodeURIComponent(token)}`,
        undefined,
        admin,
      );
      expect(res.status, token).toBe(400);
      expect(res.body.error.message).toMatch(/^continuationToken: not a page of this export's runs/);
    }

    const csv = await fetch(`${runner.url}/exports/${sharedExport}/runs/${all[0].runId}/rejected`, {
      headers: { 'x-ms-client-principal': contributor },
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toBe(`attachment; filename="rejected-${all[0].runId}.csv"`);
    const text = await csv.text();
    expect(text.split('\n')[0]).toBe('file,row,email,reason');
    expect(text).toContain('apitest/seg.csv,4,not-an-email,');
  });

  it('replaces a key without recreating the connection, checking it first', async () => {
    const bad = await call('PATCH', '/connections/{id}', { id: adminOnly }, { apiKey: 'not-the-key' }, admin);
    expect(bad.status).toBe(400);
    const good = await call('PATCH', '/connections/{id}', { id: adminOnly }, { apiKey: API_KEY }, admin);
    expect(good.status).toBe(200);
    expect(JSON.stringify(good.body)).not.toContain(API_KEY);
  });

  it('deletes a connection and its key once unused', async () => {
    const c = await call(
      'POST',
      '/connections',
      {},
      { displayName: 'Tmp', hostname: h.emulator.hostname, apiKey: API_KEY, dataPrivacyConsent: true },
      admin,
    );
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
      } else if (response.content?.['text/csv']) {
        expect(typeof r.body).toBe('string');
      } else {
        expect(r.body).toBeUndefined();
      }
      seen.add(`${r.method} ${r.route}`);
    }
    const documented = Object.entries(doc.paths).flatMap(([route, ops]) =>
      Object.keys(ops)
        .filter((m) => m !== 'parameters')
        .map((m) => `${m} ${route}`),
    );
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
    const tables = TableServiceClient.fromConnectionString(h.azurite.connectionString, {
      allowInsecureConnection: true,
    });
    let entities = 0;
    for await (const t of tables.listTables()) {
      const table = TableClient.fromConnectionString(h.azurite.connectionString, t.name!, {
        allowInsecureConnection: true,
      });
      for await (const e of table.listEntities()) {
        entities++;
        expect(JSON.stringify(e)).not.toContain(API_KEY);
      }
    }
    expect(entities).toBeGreaterThan(5);
  });
});
