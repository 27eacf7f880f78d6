import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExport } from '../../shared/exports/exportService.js';
import type { DataMapping, Run, SegmentSource } from '../../shared/model.js';
import {
  adminCaller,
  connectToEmulator,
  runToEnd,
  startHarness,
  startRunnerProcess,
  uploadText,
  type Harness,
  type RunnerProcess,
} from '../support/harness.js';

describe('runs over Customer Insights layouts (local runner, Azurite, emulator)', () => {
  let h: Harness;
  let runner: RunnerProcess;
  let connectionId: string;

  beforeAll(async () => {
    h = await startHarness({ requestsPerSecond: 50, bulkImportsPerMinute: 3_000 });
    runner = await startRunnerProcess(h.env, ['--triggers', 'queue']);
    connectionId = await connectToEmulator(h);
  });
  afterAll(async () => {
    await runner?.stop();
    await h?.stop();
  });

  async function run(source: SegmentSource, mapping: DataMapping): Promise<Run> {
    const exp = await createExport(h.svc, adminCaller, { displayName: 'x', connectionId, listId: 1, source, mapping });
    return runToEnd(h, exp);
  }

  it('exports a Common Data Model folder with headerless partitions', async () => {
    const account = 'customerinsightsacct';
    const model = {
      name: 'cdm',
      entities: [
        {
          $type: 'LocalEntity',
          name: 'HighValue',
          attributes: [{ name: 'CustomerId' }, { name: 'PrimaryEmail' }, { name: 'GivenName' }, { name: 'City' }],
          partitions: [1, 2].map((n) => ({
            name: `part${n}`,
            location: `https://${account}.blob.core.windows.net/cix/exports/HighValue/part${n}.csv`,
            fileFormatSettings: { $type: 'CsvFormatSettings', columnHeaders: false, delimiter: ',' },
          })),
        },
      ],
    };
    await uploadText(h.blobs, 'cix', 'exports/model.json', JSON.stringify(model));
    const rows = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => `${from + i},cdm${from + i}@example.com,Name${from + i},"Oslo, NO"`).join(
        '\r\n',
      );
    await uploadText(h.blobs, 'cix', 'exports/HighValue/part1.csv', rows(0, 300) + '\r\n17,broken-email,X,Y\r\n');
    await uploadText(h.blobs, 'cix', 'exports/HighValue/part2.csv', rows(300, 200) + '\r\n');
    const r = await run(
      { container: 'cix', path: 'exports', table: 'HighValue' },
      { email: 'PrimaryEmail', firstName: 'GivenName', fields: { '2': 'City' } },
    );
    expect(r.status).toBe('completedWithErrors');
    expect(r.counts).toMatchObject({ read: 501, rejected: 1, upserted: 500, failed: 0 });
    expect(r.snapshot?.files).toHaveLength(2);
    expect(h.emulator.contacts.get('cdm450@example.com')).toMatchObject({
      firstName: 'Name450',
      fields: { '2': 'Oslo, NO' },
      lists: { '1': 1 },
    });
    const csv = await h.svc.runFiles.readText(r.rejectedRows!);
    expect(csv).toContain(
      'cix/exports/HighValue/part1.csv,301,broken-email,"invalid email: it needs exactly one ""@"" between a name and a domain"',
    );
  });

  it('exports a Parquet file in several row groups, its columns matched ignoring case', async () => {
    const n = 1_200;
    const file = parquetWriteBuffer({
      columnData: [
        {
          name: 'Email',
          data: Array.from({ length: n }, (_, i) => (i === 7 ? 'not-an-email' : `pq${i}@example.com`)),
          type: 'STRING',
        },
        { name: 'FirstName', data: Array.from({ length: n }, (_, i) => `Given${i}`), type: 'STRING' },
        { name: 'Notes', data: Array.from({ length: n }, () => 'x'.repeat(200)), type: 'STRING' },
        { name: 'Score', data: Array.from({ length: n }, (_, i) => i), type: 'INT32' },
      ],
      rowGroupSize: 500,
    });
    await uploadText(h.blobs, 'cix', 'parquet/segment.parquet', Buffer.from(file));
    // Column names are matched ignoring case, as for CSV.
    const r = await run(
      { container: 'cix', path: 'parquet/segment.parquet' },
      { email: 'email', firstName: 'firstname' },
    );
    expect(r.counts).toMatchObject({ read: n, rejected: 1, upserted: n - 1, failed: 0 });
    expect(h.emulator.contacts.get('pq1100@example.com')).toMatchObject({ firstName: 'Given1100', lists: { '1': 1 } });
    const csv = await h.svc.runFiles.readText(r.rejectedRows!);
    expect(csv).toContain('cix/parquet/segment.parquet,8,not-an-email,');
  });

  it('fails the run before anything is sent when a partition is not UTF-8, naming the file', async () => {
    const base = 'CustomerInsights_x/dest/Seg/2026/11/22/1000';
    await uploadText(
      h.blobs,
      'cix',
      `${base}/Seg_1.csv`,
      'email\n' + Array.from({ length: 600 }, (_, i) => `ok${i}@example.com`).join('\n'),
    );
    await uploadText(
      h.blobs,
      'cix',
      `${base}/Seg_2.csv`,
      Buffer.from([0x65, 0x6d, 0x61, 0x69, 0x6c, 0x0a, 0xff, 0xfe, 0x40, 0x0a]),
    );
    const importsBefore = h.emulator.acceptedImports;
    const r = await run({ container: 'cix', path: 'CustomerInsights_x/dest/Seg' }, { email: 'email' });
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/cix\/CustomerInsights_x\/dest\/Seg\/2026\/11\/22\/1000\/Seg_2.csv is not UTF-8/);
    expect(h.emulator.acceptedImports).toBe(importsBefore);
    expect(h.emulator.contacts.has('ok1@example.com')).toBe(false);
  });

  it('fails the run when the mapped email column is missing at run time', async () => {
    // The export is created before its source exists, so only the run can find the problem.
    const exp = await createExport(h.svc, adminCaller, {
      displayName: 'x',
      connectionId,
      listId: 1,
      source: { container: 'cix', path: 'later.csv' },
      mapping: { email: 'Email' },
    });
    await uploadText(h.blobs, 'cix', 'later.csv', 'Mail,Name\na@example.com,A\n');
    const r = await runToEnd(h, exp);
    expect(r.status).toBe('failed');
    expect(r.error).toBe('cix/later.csv has no email column "Email" (columns: Mail, Name)');
  });

  it('fails the run before anything is sent when a header names a column twice at run time, naming it', async () => {
    // Created before the file exists, so only the run can see the header: no "second wins".
    const exp = await createExport(h.svc, adminCaller, {
      displayName: 'x',
      connectionId,
      listId: 1,
      source: { container: 'cix', path: 'twice' },
      mapping: { email: 'email' },
    });
    await uploadText(
      h.blobs,
      'cix',
      'twice/a.csv',
      'email,name\n' + Array.from({ length: 300 }, (_, i) => `twice${i}@example.com,A`).join('\n'),
    );
    await uploadText(h.blobs, 'cix', 'twice/b.csv', 'email,name,email\nb@example.com,B,c@example.com\n');
    const importsBefore = h.emulator.acceptedImports;
    const r = await runToEnd(h, exp);
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/cix\/twice\/b\.csv.*names the column "email" twice/);
    expect(h.emulator.acceptedImports).toBe(importsBefore);
    expect(h.emulator.contacts.has('twice1@example.com')).toBe(false);
  });

  it('fails an empty snapshot', async () => {
    await uploadText(h.blobs, 'cix', 'empty.csv', 'email,name\n');
    const r = await run({ container: 'cix', path: 'empty.csv' }, { email: 'email' }).catch((e) => e);
    // Creating the export reads the header; the run then finds no rows.
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/has no rows \(empty snapshot\)/);
  });
});
