/**
 * Checks the emulator (and the requests the app sends) against ActiveCampaign's documented API:
 * test/fixtures/activecampaign-openapi.json, the paths the app and the emulator use, copied from a
 * public OpenAPI 3.1 reconstruction of developers.activecampaign.com/reference (its `info` names the
 * source). Each answer validates against the documented schema and has the documented example's
 * shape (same keys, same JSON types).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActiveCampaignClient } from '../../shared/activecampaign/client.js';
import { mapRecord, resolveMapping } from '../../shared/sync/mapping.js';
import {
  ActiveCampaignEmulator,
  EMULATOR_API_KEY,
  startActiveCampaignEmulator,
} from '../../tools/acEmulator/server.js';
import { ROOT } from '../support/harness.js';

const spec = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'activecampaign-openapi.json'), 'utf8'));
const ajv = new Ajv2020.default({ strict: false, allErrors: true, validateFormats: false });

function operation(path: string, method: string) {
  const op = spec.paths[path]?.[method];
  if (!op) throw new Error(`The OpenAPI copy has no ${method.toUpperCase()} ${path}`);
  return op;
}

function responseDoc(path: string, method: string, status: number) {
  const content = operation(path, method).responses[String(status)]?.content?.['application/json'];
  if (!content) throw new Error(`The OpenAPI copy documents no ${status} for ${method.toUpperCase()} ${path}`);
  const examples = Object.values(content.examples ?? {}).map((e) => JSON.parse((e as { value: string }).value));
  return { schema: content.schema, examples };
}

/** Where `actual` differs from the example's shape: missing keys, or another JSON type. */
function shapeMismatches(example: unknown, actual: unknown, path = '$'): string[] {
  if (example === null) return [];
  const type = (v: unknown) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);
  if (type(example) !== type(actual)) return [`${path}: ${type(actual)} instead of ${type(example)}`];
  if (Array.isArray(example)) {
    if (example.length === 0 || !Array.isArray(actual)) return [];
    return (actual as unknown[]).flatMap((item, i) => shapeMismatches(example[0], item, `${path}[${i}]`));
  }
  if (typeof example === 'object') {
    return Object.entries(example).flatMap(([k, v]) =>
      k in (actual as object)
        ? shapeMismatches(v, (actual as Record<string, unknown>)[k], `${path}.${k}`)
        : [`${path}.${k}: missing`],
    );
  }
  return [];
}

function expectDocumented(path: string, method: string, status: number, body: unknown, exampleName?: string) {
  const doc = responseDoc(path, method, status);
  if (doc.schema) {
    // The copy's oneOf alternatives (one a documented example) require nothing, so an answer fits
    // several: read them as "one of them fits".
    const alternatives = (doc.schema as { oneOf?: object[] }).oneOf ?? [doc.schema];
    const valid = alternatives.some((schema) => ajv.validate(schema, body));
    expect(valid, `${method} ${path} ${status}: ${ajv.errorsText()}`).toBe(true);
  }
  const examples = exampleName
    ? [
        JSON.parse(
          operation(path, method).responses[String(status)].content['application/json'].examples[exampleName].value,
        ),
      ]
    : doc.examples;
  const best = examples.map((e) => shapeMismatches(e, body)).sort((a, b) => a.length - b.length)[0] ?? [];
  expect(best, `${method} ${path} ${status} differs from the documented example`).toEqual([]);
}

describe('the emulator against the ActiveCampaign OpenAPI copy', () => {
  let emulator: ActiveCampaignEmulator;
  let client: ActiveCampaignClient;
  const last = () => emulator.requests.at(-1)!;

  beforeAll(async () => {
    emulator = await startActiveCampaignEmulator({
      recordBodies: true,
      requestsPerSecond: 0,
      bulkImportsPerMinute: 0,
      importPhaseInMs: 20,
      // The documented request example sends field 1 as text and field 2 as a multi-value field.
      fields: [
        { id: 1, title: 'Loyalty tier', type: 'text' },
        { id: 2, title: 'Hobbies', type: 'checkbox', options: ['foo', 'bar', 'baz'] },
        { id: 7, title: 'Tier', type: 'dropdown', options: ['Gold', 'Silver'] },
        { id: 8, title: 'Birthday', type: 'date' },
      ],
    });
    client = new ActiveCampaignClient(emulator.hostname, EMULATOR_API_KEY, { insecureHosts: [emulator.hostname] });
  });
  afterAll(() => emulator.close());

  it('GET /users/me', async () => {
    await client.getCurrentUser();
    expectDocumented('/users/me', 'get', 200, last().responseBody);
  });

  it('GET /lists/{id}, found and not found', async () => {
    await client.getList(1);
    expectDocumented('/lists/{id}', 'get', 200, last().responseBody);
    await client.getList(7).catch(() => undefined);
    expect(last().status).toBe(404);
    expectDocumented('/lists/{id}', 'get', 404, last().responseBody);
    expect(last().responseBody).toEqual({ message: 'No Result found for _List with id 7' });
  });

  it('GET /fields, with the options of a dropdown sideloaded as fieldOptions', async () => {
    const fields = await client.listFields();
    expectDocumented('/fields', 'get', 200, last().responseBody);
    expect(fields[2]).toMatchObject({ id: '7', type: 'dropdown', options: ['Gold', 'Silver'] });
    const options = (last().responseBody as { fieldOptions: unknown[] }).fieldOptions;
    const example = JSON.parse(
      operation('/fieldOption/bulk', 'post').responses['201'].content['application/json'].examples.Result.value,
    ).fieldOptions[0];
    expect(shapeMismatches(example, options[0])).toEqual([]);
  });

  it('GET /lists', async () => {
    expect((await client.listLists())[0]).toEqual(expect.objectContaining({ id: '1', name: 'Newsletter' }));
    expectDocumented('/lists', 'get', 200, last().responseBody);
  });

  it('POST /lists: the request and answer as documented; without a required member, the documented 400', async () => {
    const list = await client.createList({
      name: 'Spring sale – VIP',
      senderUrl: 'https://shop.example.com',
      senderReminder: 'You bought from our shop and agreed to hear from us.',
    });
    const requestSchema = operation('/lists', 'post').requestBody.content['application/json'].schema;
    expect(ajv.validate(requestSchema, last().requestBody), ajv.errorsText()).toBe(true);
    expect(last().requestBody).toEqual({
      list: {
        name: 'Spring sale – VIP',
        stringid: 'spring-sale-vip',
        sender_url: 'https://shop.example.com',
        sender_reminder: 'You bought from our shop and agreed to hear from us.',
      },
    });
    expectDocumented('/lists', 'post', 200, last().responseBody);
    expect(list).toMatchObject({ id: '2', name: 'Spring sale – VIP' });
    expect(await client.getList(2)).toMatchObject({
      sender_url: 'https://shop.example.com',
      stringid: 'spring-sale-vip',
    });
    await expect(
      client.createList({ name: 'No reminder', senderUrl: 'https://shop.example.com', senderReminder: ' ' }),
    ).rejects.toThrow();
    expect(last().status).toBe(400);
    expectDocumented('/lists', 'post', 400, last().responseBody);
  });

  it('GET /contacts?email=, GET /contacts/{id}/contactLists and POST /contactLists (which can re-subscribe)', async () => {
    const { batchId } = await client.bulkImport([
      { email: 'ret@example.com', unsubscribe: [{ listid: '1' }] },
      { email: 'x@example.com', subscribe: [{ listid: '1' }] },
    ]);
    await new Promise((r) => setTimeout(r, 100));
    expect((await client.getImportInfo(batchId)).status).toBe('completed');
    const [contact] = await client.findContacts('ret@example.com');
    expectDocumented('/contacts', 'get', 200, last().responseBody);
    expect(await client.findContacts('ret@example.com', { listId: 1, status: 1 })).toEqual([]);
    expect(await client.findContacts('ret@example.com', { listId: 1, status: 2 })).toHaveLength(1);
    const memberships = await client.getContactLists(contact.id);
    expectDocumented('/contacts/{id}/contactLists', 'get', 200, last().responseBody);
    expect(memberships).toEqual([expect.objectContaining({ list: '1', status: '2' })]);
    await client.updateListStatus(contact.id, 1, 1);
    const requestSchema = operation('/contactLists', 'post').requestBody.content['application/json'].schema;
    expect(ajv.validate(requestSchema, last().requestBody), ajv.errorsText()).toBe(true);
    expect(last().requestBody).toEqual({ contactList: { list: '1', contact: contact.id, status: '1', sourceid: 4 } });
    expectDocumented('/contactLists', 'post', 200, last().responseBody);
    expect(emulator.contacts.get('ret@example.com')!.lists['1']).toBe(1);
  });

  it('GET /tags?search= (names any case), GET /contacts/{id}/contactTags and DELETE /contactTags/{id} as documented', async () => {
    const { batchId } = await client.bulkImport([
      { email: 'tagged@example.com', tags: ['Members', 'Gold members'], subscribe: [{ listid: '1' }] },
      // The importer reuses a tag whatever the case of its name.
      { email: 'other@example.com', tags: ['MEMBERS'], subscribe: [{ listid: '1' }] },
    ]);
    await new Promise((r) => setTimeout(r, 100));
    expect((await client.getImportInfo(batchId)).status).toBe('completed');
    expect(emulator.contacts.get('other@example.com')!.tags).toEqual(['Members']);
    // "contains" matching answers both tags; only the exact name (any case) is taken.
    const ids = await client.findTagIds('members');
    expectDocumented('/tags', 'get', 200, last().responseBody);
    expect((last().responseBody as { tags: unknown[] }).tags).toHaveLength(2);
    expect(ids).toHaveLength(1);
    const [contact] = await client.findContacts('tagged@example.com');
    const tags = await client.getContactTags(contact.id);
    expect(tags.map((t) => t.tag).sort()).toHaveLength(2);
    const members = tags.find((t) => t.tag === ids[0])!;
    expect(await client.removeContactTag(members.id)).toBe(true);
    expectDocumented('/contactTags/{id}', 'delete', 200, last().responseBody);
    expect(emulator.contacts.get('tagged@example.com')!.tags).toEqual(['Gold members']);
    expect(emulator.contacts.get('other@example.com')!.tags).toEqual(['Members']);
    expect(await client.removeContactTag(members.id)).toBe(false);
    expect(last().status).toBe(404);
    expectDocumented('/contactTags/{id}', 'delete', 404, last().responseBody);
  });

  it('PUT /contacts/{id} changes the email of the same contact as documented; a taken email is refused, a missing contact 404', async () => {
    const { batchId } = await client.bulkImport([
      { email: 'old@example.com', first_name: 'Olga', subscribe: [{ listid: '1' }] },
      { email: 'taken@example.com', subscribe: [{ listid: '1' }] },
    ]);
    await new Promise((r) => setTimeout(r, 100));
    expect((await client.getImportInfo(batchId)).status).toBe('completed');
    const [contact] = await client.findContacts('old@example.com');
    expect(await client.changeContactEmail(contact.id, 'new@example.com')).toBe(true);
    const requestSchema = operation('/contacts/{id}', 'put').requestBody.content['application/json'].schema;
    expect(ajv.validate(requestSchema, last().requestBody), ajv.errorsText()).toBe(true);
    expectDocumented('/contacts/{id}', 'put', 200, last().responseBody);
    expect(emulator.contacts.has('old@example.com')).toBe(false);
    expect(emulator.contacts.get('new@example.com')).toMatchObject({
      id: Number(contact.id),
      firstName: 'Olga',
      lists: { '1': 1 },
    });
    // Empty values empty the fields (the update's documented request: `fieldValues: [{field, value}]`).
    emulator.contacts.get('new@example.com')!.fields['1'] = 'Gold';
    emulator.contacts.get('new@example.com')!.phone = '+1 555 0100';
    expect(await client.clearContactValues(contact.id, { phone: true, fields: [1] })).toBe(true);
    expect(ajv.validate(requestSchema, last().requestBody), ajv.errorsText()).toBe(true);
    expect(last().requestBody).toEqual({ contact: { phone: '', fieldValues: [{ field: '1', value: '' }] } });
    expect(emulator.contacts.get('new@example.com')).toMatchObject({ phone: '', fields: {}, firstName: 'Olga' });
    await expect(client.changeContactEmail(contact.id, 'taken@example.com')).rejects.toThrow(/already exists/);
    expect(last().status).toBe(422);
    expect(await client.changeContactEmail('999999', 'x@example.com')).toBe(false);
    expectDocumented('/contacts/{id}', 'put', 404, last().responseBody);
  });

  it('DELETE /contacts/{id}: 200 {} as documented, then the documented 404', async () => {
    const [contact] = await client.findContacts('x@example.com');
    expect(await client.deleteContact(contact.id)).toBe(true);
    expect(last().status).toBe(200);
    expectDocumented('/contacts/{id}', 'delete', 200, last().responseBody);
    expect(emulator.contacts.has('x@example.com')).toBe(false);
    expect(await client.findContacts('x@example.com')).toEqual([]);
    expect(await client.deleteContact(contact.id)).toBe(false);
    expect(last().status).toBe(404);
    expectDocumented('/contacts/{id}', 'delete', 404, last().responseBody);
  });

  it('POST /import/bulk_import with tags, exclude_automations and typed fields: the request schema, and values checked by type', async () => {
    const { batchId } = await client.bulkImport(
      [
        {
          email: 'tagged@example.com',
          tags: ['VIP'],
          fields: [
            { id: 7, value: 'Gold' },
            { id: 8, value: '2001-02-03' },
            { id: 2, value: '||foo||baz||' },
          ],
        },
      ],
      { excludeAutomations: true },
    );
    const requestSchema = operation('/import/bulk_import', 'post').requestBody.content['application/json'].schema;
    expect(ajv.validate(requestSchema, last().requestBody), ajv.errorsText()).toBe(true);
    expect(last().requestBody).toMatchObject({ exclude_automations: true });
    expect(batchId).toBeTruthy();
    const refused = await client
      .bulkImport([
        { email: 'a@example.com', fields: [{ id: 7, value: 'Bronze' }] },
        { email: 'b@example.com', fields: [{ id: 8, value: '3/4/2001' }] },
        { email: 'c@example.com', fields: [{ id: 2, value: 'foo' }] },
      ])
      .catch((e) => e);
    expect(refused.failures).toEqual([
      { index: 0, reason: 'Field‘ 7’ is not one of the options' },
      { index: 1, reason: 'Field‘ 8’ is not a date (YYYY-MM-DD)' },
      { index: 2, reason: 'Field‘ 2’ is not in the form ||a||b||' },
    ]);
  });

  it('POST /import/bulk_import: the app request matches the documented request schema, the answer the 200 example', async () => {
    const resolved = resolveMapping(
      { email: 'e', firstName: 'f', lastName: 'l', phone: 'p', fields: { '1': 'tier' } },
      ['e', 'f', 'l', 'p', 'tier'],
    );
    const contact = mapRecord(
      { e: 'jane@example.com', f: 'Jane', l: 'Doe', p: '123-456-7890', tier: 'gold' },
      resolved,
    ).contact!;
    const { batchId } = await client.bulkImport([
      { ...contact, subscribe: [{ listid: '1' }] },
      { email: 'joe@example.com', unsubscribe: [{ listid: '1' }] },
    ]);
    const requestSchema = operation('/import/bulk_import', 'post').requestBody.content['application/json'].schema;
    expect(ajv.validate(requestSchema, last().requestBody), ajv.errorsText()).toBe(true);
    expectDocumented('/import/bulk_import', 'post', 200, last().responseBody);
    expect(batchId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('POST /import/bulk_import accepts the documented request example', async () => {
    const example = operation('/import/bulk_import', 'post').requestBody.content['application/json'].examples[
      'Request Example'
    ].value;
    const res = await fetch(`${emulator.url}/api/3/import/bulk_import`, {
      method: 'POST',
      headers: { 'Api-Token': EMULATOR_API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify(example),
    });
    expect(res.status).toBe(200);
    expectDocumented('/import/bulk_import', 'post', 200, await res.json());
  });

  it('POST /import/bulk_import: validation failure and the per-minute limit have the documented 400 bodies', async () => {
    await client.bulkImport([{ email: 'ok@example.com' }, { email: 'broken' }]).catch(() => undefined);
    expectDocumented('/import/bulk_import', 'post', 400, last().responseBody, 'Contact Create Fail');
    emulator.options.bulkImportsPerMinute = 1;
    emulator.resetRateWindows();
    await client.bulkImport([{ email: 'a1@example.com' }, { email: 'a2@example.com' }]);
    await client.bulkImport([{ email: 'a3@example.com' }, { email: 'a4@example.com' }]).catch(() => undefined);
    expectDocumented('/import/bulk_import', 'post', 400, last().responseBody, 'Other Error');
    emulator.options.bulkImportsPerMinute = 0;
  });

  it('GET /import/info: the answer while pending and when completed, and 400 without batchId', async () => {
    const { batchId } = await client.bulkImport([{ email: 'info1@example.com' }, { email: 'info2@example.com' }]);
    await client.getImportInfo(batchId);
    expect(
      ajv.validate(responseDoc('/import/info', 'get', 200).schema, {
        ...(last().responseBody as object),
        status: 'waiting',
      }),
    ).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    await client.getImportInfo(batchId);
    expectDocumented('/import/info', 'get', 200, last().responseBody);
    const res = await fetch(`${emulator.url}/api/3/import/info`, { headers: { 'Api-Token': EMULATOR_API_KEY } });
    expect(res.status).toBe(400);
    expectDocumented('/import/info', 'get', 400, await res.json());
  });
});
