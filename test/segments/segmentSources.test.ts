import { gzipSync } from 'node:zlib';
import type { BlobServiceClient } from '@azure/storage-blob';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSegmentFile } from '../../shared/segments/readSegmentFile.js';
import { wholeCharacters } from '../../shared/segments/textStream.js';
import type { SegmentRow } from '../../shared/segments/segmentFile.js';
import { SegmentError } from '../../shared/segments/segmentError.js';
import { locateSnapshot } from '../../shared/segments/snapshot.js';
import type { SegmentSource } from '../../shared/model.js';
import { startAzurite, type AzuriteInstance } from '../../tools/azurite.js';
import { BlobServiceClient as Blobs } from '@azure/storage-blob';

let azurite: AzuriteInstance;
let blobs: BlobServiceClient;
let seq = 0;

beforeAll(async () => {
  azurite = await startAzurite();
  blobs = Blobs.fromConnectionString(azurite.connectionString);
});
afterAll(() => azurite?.stop());

async function put(container: string, name: string, content: string | Buffer | ArrayBuffer): Promise<void> {
  const c = blobs.getContainerClient(container);
  await c.createIfNotExists();
  const data = content instanceof ArrayBuffer ? Buffer.from(content) : content;
  await c.getBlockBlobClient(name).upload(data, Buffer.byteLength(data));
}

async function readAll(source: SegmentSource): Promise<{ layout: string; rows: SegmentRow[]; files: string[] }> {
  const snapshot = await locateSnapshot(blobs, source);
  const rows: SegmentRow[] = [];
  for (const f of snapshot.segmentFiles) for await (const r of readSegmentFile(blobs, f)) rows.push(r);
  return { layout: snapshot.layout, rows, files: snapshot.files.map((f) => f.name) };
}

const fresh = () => `seg${++seq}x`;

describe('CSV files', () => {
  it('reads quoted fields with commas and newlines, a UTF-8 BOM and CRLF line ends', async () => {
    const c = fresh();
    await put(
      c,
      'a.csv',
      '\uFEFFEmail,Name,Note\r\n"x@example.com","Doe, Jane","line one\r\nline two"\r\ny@example.com,Ünïcödé,"say ""hi"""\r\n',
    );
    const { rows, layout } = await readAll({ container: c, path: 'a.csv' });
    expect(layout).toBe('files');
    expect(rows.map((r) => r.record)).toEqual([
      { Email: 'x@example.com', Name: 'Doe, Jane', Note: 'line one\r\nline two' },
      { Email: 'y@example.com', Name: 'Ünïcödé', Note: 'say "hi"' },
    ]);
    expect(rows.map((r) => r.row)).toEqual([2, 3]);
  });

  it('reads characters of two to four bytes wherever the chunks of a file split them', async () => {
    const c = fresh();
    // Gunzip hands on 16 KiB chunks: over 700 KiB of rows, characters fall across their edges.
    const names = ['Zoë', 'Øre €', '日本語', 'emoji 😀 and 𝄞'];
    let text = 'Email,Name\n';
    for (let i = 0; i < 20_000; i++) text += `p${i}@example.com,${names[i % names.length]} ${i}\n`;
    await put(c, 'multi.csv.gz', gzipSync(text));
    const { rows } = await readAll({ container: c, path: 'multi.csv.gz' });
    expect(rows).toHaveLength(20_000);
    rows.forEach((r, i) => expect(r.record.Name).toBe(`${names[i % names.length]} ${i}`));
  });

  it('cuts a chunk before a character its end splits, and only there', () => {
    const euro = Buffer.from('a€'); // 61 e2 82 ac
    expect(wholeCharacters(euro)).toBe(4);
    expect(wholeCharacters(euro.subarray(0, 3))).toBe(1);
    expect(wholeCharacters(euro.subarray(0, 2))).toBe(1);
    const emoji = Buffer.from('😀'); // f0 9f 98 80
    for (let cut = 1; cut < 4; cut++) expect(wholeCharacters(emoji.subarray(0, cut))).toBe(0);
    expect(wholeCharacters(emoji)).toBe(4);
    // Continuation bytes with no first byte are left whole, for the UTF-8 check to refuse.
    expect(wholeCharacters(Buffer.from([0x61, 0x80, 0x80, 0x80, 0x80]))).toBe(5);
    expect(wholeCharacters(Buffer.alloc(0))).toBe(0);
  });

  it('reads gzip-compressed CSV and JSON Lines, and a folder of mixed files', async () => {
    const c = fresh();
    await put(c, 'dir/one.csv.gz', gzipSync('email\na@example.com\nb@example.com\n'));
    await put(
      c,
      'dir/two.jsonl',
      '{"email":"c@example.com","age":41}\n\n{"email":"d@example.com","tags":["x"],"none":null}\n',
    );
    await put(c, 'dir/three.ndjson.gz', gzipSync('{"email":"e@example.com"}\r\n'));
    await put(c, 'dir/readme.txt', 'ignored');
    const { rows, files } = await readAll({ container: c, path: 'dir' });
    expect(files).toEqual([`${c}/dir/one.csv.gz`, `${c}/dir/three.ndjson.gz`, `${c}/dir/two.jsonl`]);
    expect(rows.map((r) => r.record.email)).toEqual([
      'a@example.com',
      'b@example.com',
      'e@example.com',
      'c@example.com',
      'd@example.com',
    ]);
    expect(rows.find((r) => r.record.email === 'd@example.com')!.record).toEqual({
      email: 'd@example.com',
      tags: '["x"]',
      none: '',
    });
    expect(rows.find((r) => r.record.email === 'c@example.com')!.record.age).toBe('41');
  });

  it('reads Parquet, one row group at a time', async () => {
    const c = fresh();
    const n = 2_500;
    const buffer = parquetWriteBuffer({
      columnData: [
        { name: 'email', data: Array.from({ length: n }, (_, i) => `p${i}@example.com`), type: 'STRING' },
        { name: 'score', data: Array.from({ length: n }, (_, i) => i), type: 'INT32' },
        {
          name: 'joined',
          data: Array.from({ length: n }, (_, i) => new Date(Date.UTC(2024, 0, 1 + (i % 28)))),
          type: 'TIMESTAMP',
        },
      ],
      rowGroupSize: 1_000,
    });
    await put(c, 'p/segment.parquet', buffer);
    const { rows } = await readAll({ container: c, path: 'p/segment.parquet' });
    expect(rows).toHaveLength(n);
    expect(rows[1234].record).toEqual({
      email: 'p1234@example.com',
      score: '1234',
      joined: '2024-01-03T00:00:00.000Z',
    });
    expect(rows.at(-1)!.row).toBe(n);
  });
});

describe('Parquet columns', () => {
  it('decodes only the columns asked for (matched ignoring case, every candidate kept), and every column when one is missing', async () => {
    const c = fresh();
    const n = 300;
    const text = (prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    await put(
      c,
      'wide.parquet',
      parquetWriteBuffer({
        columnData: [
          { name: 'Email', data: text('w').map((v) => `${v}@example.com`), type: 'STRING' },
          { name: 'FirstName', data: text('F'), type: 'STRING' },
          { name: 'FIRSTNAME', data: text('G'), type: 'STRING' },
          { name: 'Unused', data: text('u'), type: 'STRING' },
        ],
        rowGroupSize: 128,
      }),
    );
    const snapshot = await locateSnapshot(blobs, { container: c, path: 'wide.parquet' });
    const rows = async (columns?: string[], maxRows?: number) => {
      const out: SegmentRow[] = [];
      for await (const r of readSegmentFile(blobs, snapshot.segmentFiles[0], { columns, maxRows })) out.push(r);
      return out;
    };
    const some = await rows(['email', 'firstname']);
    expect(some).toHaveLength(n);
    // Both spellings of the first name are read, so that the mapping can call the column ambiguous.
    expect(some[299]).toEqual({
      file: `${c}/wide.parquet`,
      row: 300,
      record: { Email: 'w299@example.com', FirstName: 'F299', FIRSTNAME: 'G299' },
    });
    // A column the file lacks: every column is read, and the mapping's error names them all.
    expect(Object.keys((await rows(['Email', 'Surname']))[0].record)).toEqual([
      'Email',
      'FirstName',
      'FIRSTNAME',
      'Unused',
    ]);
    expect(Object.keys((await rows())[0].record)).toEqual(['Email', 'FirstName', 'FIRSTNAME', 'Unused']);
    // A preview decodes no more rows than it shows, across row groups too.
    expect((await rows(undefined, 5)).map((r) => r.row)).toEqual([1, 2, 3, 4, 5]);
    expect((await rows(['email'], 200)).at(-1)).toEqual({
      file: `${c}/wide.parquet`,
      row: 200,
      record: { Email: 'w199@example.com' },
    });
  });
});

describe('Customer Insights table folders', () => {
  it('reads every partition of the newest time folder only', async () => {
    const c = fresh();
    const base = 'CustomerInsights_abc/dest/Segment';
    await put(c, `${base}/2026/11/21/2300/Segment_1.csv`, 'email\nold@example.com\n');
    await put(c, `${base}/2026/11/22/0815/Segment_1.csv`, 'email\nn1@example.com\n');
    await put(c, `${base}/2026/11/22/0815/Segment_2.csv`, 'email\nn2@example.com\nn3@example.com\n');
    await put(c, `${base}/2026/11/22/0800/Segment_1.csv`, 'email\nearlier@example.com\n');
    const { rows, layout, files } = await readAll({ container: c, path: base });
    expect(layout).toBe('customerInsights');
    expect(files).toHaveLength(2);
    expect(rows.map((r) => r.record.email)).toEqual(['n1@example.com', 'n2@example.com', 'n3@example.com']);
  });

  it('gives a new snapshot id when a newer folder lands, and the same id otherwise', async () => {
    const c = fresh();
    await put(c, 'T/2026/01/01/0000/T_1.csv', 'email\na@example.com\n');
    const first = await locateSnapshot(blobs, { container: c, path: 'T' });
    expect((await locateSnapshot(blobs, { container: c, path: 'T' })).id).toBe(first.id);
    await put(c, 'T/2026/01/01/0015/T_1.csv', 'email\na@example.com\n');
    expect((await locateSnapshot(blobs, { container: c, path: 'T' })).id).not.toBe(first.id);
  });
});

describe('Common Data Model folders', () => {
  const model = (
    account: string,
    container: string,
    partitions: { name: string; headers: boolean; delimiter?: string }[],
    entities = ['Customers'],
  ) => ({
    name: 'cdm',
    version: '1.0',
    entities: entities.map((name) => ({
      $type: 'LocalEntity',
      name,
      attributes: [
        { name: 'CustomerId', dataType: 'string' },
        { name: 'Email', dataType: 'string' },
        { name: 'FirstName', dataType: 'string' },
      ],
      partitions:
        name === entities[0]
          ? partitions.map((p) => ({
              name: p.name,
              location: `https://${account}.blob.core.windows.net/${container}/dest/${name}/${p.name}`,
              fileFormatSettings: {
                $type: 'CsvFormatSettings',
                columnHeaders: p.headers,
                delimiter: p.delimiter ?? ',',
                quoteStyle: 'QuoteStyle.Csv',
                csvStyle: 'CsvStyle.QuoteAlways',
              },
            }))
          : [],
    })),
  });

  it('takes columns from the attributes, reads headerless and header partitions, whatever account the URL names', async () => {
    const c = fresh();
    await put(
      c,
      'dest/model.json',
      JSON.stringify(
        model('someotheraccount', c, [
          { name: 'part1.csv', headers: false },
          { name: 'part2.csv', headers: true },
        ]),
      ),
    );
    await put(c, 'dest/Customers/part1.csv', '1,a@example.com,Ann\r\n2,"b@example.com","Bob, Jr"\r\n');
    await put(c, 'dest/Customers/part2.csv', 'CustomerId,Email,FirstName\n3,c@example.com,Cy\n');
    const { rows, layout } = await readAll({ container: c, path: 'dest' });
    expect(layout).toBe('cdm');
    expect(rows.map((r) => r.record)).toEqual([
      { CustomerId: '1', Email: 'a@example.com', FirstName: 'Ann' },
      { CustomerId: '2', Email: 'b@example.com', FirstName: 'Bob, Jr' },
      { CustomerId: '3', Email: 'c@example.com', FirstName: 'Cy' },
    ]);
  });

  it('picks the entity named by source.table and uses the partition delimiter', async () => {
    const c = fresh();
    await put(
      c,
      'dest/model.json',
      JSON.stringify(model('acct', c, [{ name: 'p.csv', headers: false, delimiter: ';' }], ['Customers', 'Orders'])),
    );
    await put(c, 'dest/Customers/p.csv', '1;a@example.com;Ann\n');
    const { rows } = await readAll({ container: c, path: 'dest/model.json', table: 'customers' });
    expect(rows[0].record).toEqual({ CustomerId: '1', Email: 'a@example.com', FirstName: 'Ann' });
    await expect(readAll({ container: c, path: 'dest' })).rejects.toThrow(
      /2 entities \(Customers, Orders\); set source.table/,
    );
    await expect(readAll({ container: c, path: 'dest', table: 'Invoices' })).rejects.toThrow(/no entity "Invoices"/);
    await expect(readAll({ container: c, path: 'dest', table: 'Orders' })).rejects.toThrow(
      /no partitions \(empty snapshot\)/,
    );
  });
});

describe('structural problems name the file and the problem', () => {
  it.each([
    [
      'a container that does not exist',
      async () => ({ container: 'nosuchcontainer', path: 'x.csv' }),
      /container "nosuchcontainer" does not exist/,
    ],
    [
      'no files at all',
      async (c: string) => (await put(c, 'other/x.txt', 'x'), { container: c, path: 'empty' }),
      /No segment files/,
    ],
    [
      'a file that is not UTF-8',
      async (c: string) => (
        await put(
          c,
          'latin1.csv',
          Buffer.from([0x65, 0x6d, 0x61, 0x69, 0x6c, 0x0a, 0xe9, 0x40, 0x78, 0x2e, 0x63, 0x6f, 0x0a]),
        ),
        { container: c, path: 'latin1.csv' }
      ),
      /latin1.csv is not UTF-8/,
    ],
    [
      'a file that ends inside a character',
      async (c: string) => (
        await put(c, 'cut.csv', Buffer.concat([Buffer.from('email\na@x.co,'), Buffer.from('€').subarray(0, 2)])),
        { container: c, path: 'cut.csv' }
      ),
      /cut.csv is not UTF-8/,
    ],
    [
      'corrupt gzip',
      async (c: string) => (
        await put(c, 'bad.csv.gz', Buffer.from('not gzip at all')),
        { container: c, path: 'bad.csv.gz' }
      ),
      /bad.csv.gz is not valid gzip/,
    ],
    [
      'a line that is not JSON',
      async (c: string) => (
        await put(c, 'bad.jsonl', '{"email":"a@example.com"}\n{oops\n'),
        { container: c, path: 'bad.jsonl' }
      ),
      /bad.jsonl: line 2 is not valid JSON/,
    ],
    [
      'a corrupt Parquet file',
      async (c: string) => (
        await put(c, 'bad.parquet', Buffer.from('PAR1 this is not parquet PAR1')),
        { container: c, path: 'bad.parquet' }
      ),
      /bad.parquet is not a readable Parquet file/,
    ],
    [
      'an unterminated quote',
      async (c: string) => (
        await put(c, 'q.csv', 'email,name\na@example.com,"open\n'),
        { container: c, path: 'q.csv' }
      ),
      /q.csv: corrupt CSV/,
    ],
    // Without a bound, the rest of the file after such a quote is held in memory as one field.
    [
      'an unterminated quote that swallows the rest of a large file',
      async (c: string) => (
        await put(c, 'big.csv', `email,name\na@example.com,"open\n${'b@example.com,Bob\n'.repeat(150_000)}`),
        { container: c, path: 'big.csv' }
      ),
      /big.csv: row 2 is longer than 1 MiB \(a quote that is never closed\?\)/,
    ],
    [
      'a JSON document on one line instead of JSON Lines',
      async (c: string) => (
        await put(
          c,
          'all.jsonl',
          JSON.stringify(Array.from({ length: 60_000 }, (_, i) => ({ email: `p${i}@example.com` }))),
        ),
        { container: c, path: 'all.jsonl' }
      ),
      /all.jsonl: line 1 is longer than 1 MiB \(JSON Lines holds one object a line/,
    ],
    [
      'a model.json that is not JSON',
      async (c: string) => (await put(c, 'm/model.json', '{nope'), { container: c, path: 'm' }),
      /model.json is not a readable model.json/,
    ],
    [
      'a partition that does not exist',
      async (c: string) => (
        await put(
          c,
          'm/model.json',
          JSON.stringify({
            entities: [
              {
                name: 'E',
                attributes: [{ name: 'Email' }],
                partitions: [{ location: `https://a.blob.core.windows.net/${c}/m/missing.csv` }],
              },
            ],
          }),
        ),
        { container: c, path: 'm' }
      ),
      /names the partition .*missing.csv, which does not exist \(yet\)/,
    ],
  ])('%s', async (_what, setup, message) => {
    const c = fresh();
    await blobs.getContainerClient(c).createIfNotExists();
    const source = await setup(c);
    const error = await readAll(source).catch((e) => e);
    expect(error).toBeInstanceOf(SegmentError);
    expect(error.message).toMatch(message);
  });

  it('a file replaced while it is read fails instead of mixing snapshots', async () => {
    const c = fresh();
    await put(c, 'f.csv', 'email\na@example.com\n');
    const snapshot = await locateSnapshot(blobs, { container: c, path: 'f.csv' });
    await put(c, 'f.csv', 'email\nb@example.com\n');
    const rows = async () => {
      for await (const _ of readSegmentFile(blobs, snapshot.segmentFiles[0])) void _;
    };
    await expect(rows()).rejects.toThrow(/changed while the run was reading it/);
  });
});
