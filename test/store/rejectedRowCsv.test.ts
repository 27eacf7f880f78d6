import { describe, expect, it } from 'vitest';
import { csvField, csvValue, parseChangeLine, rejectedRowCsv } from '../../shared/store/runFiles.js';

const line = (email: string) => rejectedRowCsv({ file: 'segments/a.csv', row: 7, email, reason: 'invalid email' });

describe('rejected rows as CSV', () => {
  it.each([
    ['=HYPERLINK("http://127.0.0.1/x")', `segments/a.csv,7,"'=HYPERLINK(""http://127.0.0.1/x"")",invalid email\n`],
    ['+1+2', `segments/a.csv,7,'+1+2,invalid email\n`],
    ['-1+2', `segments/a.csv,7,'-1+2,invalid email\n`],
    ['@SUM(A1)', `segments/a.csv,7,'@SUM(A1),invalid email\n`],
    // A spreadsheet skips a leading tab or carriage return and reads the formula behind it.
    ['\t=1+2', `segments/a.csv,7,'\t=1+2,invalid email\n`],
    ['\r=1+2', `segments/a.csv,7,"'\r=1+2",invalid email\n`],
  ])('keeps a value that a spreadsheet would read as a formula as text: %j', (email, expected) => {
    expect(line(email)).toBe(expected);
  });

  it('leaves other values as they are, quoting only commas, quotes and line breaks', () => {
    expect(line('ann@example.com')).toBe('segments/a.csv,7,ann@example.com,invalid email\n');
    expect(line('a,b "c"')).toBe('segments/a.csv,7,"a,b ""c""",invalid email\n');
    expect(line('a\nb')).toBe('segments/a.csv,7,"a\nb",invalid email\n');
  });

  it('reads back what it wrote: the formula mark comes off, quotes are undone', () => {
    for (const value of ['+pat@example.com', '-dash@example.com', '=x', "o'neil@example.com", 'plain@example.com'])
      expect(csvValue(csvField(value).replace(/^"|"$/g, ''))).toBe(value);
    expect(parseChangeLine(`${csvField('-dash@example.com')},added,3`)).toEqual({
      email: '-dash@example.com',
      change: 'added',
      batch: 3,
    });
    expect(parseChangeLine(`"a,b@example.com",unsubscribed,12`)).toEqual({
      email: 'a,b@example.com',
      change: 'unsubscribed',
      batch: 12,
    });
    expect(parseChangeLine('nonsense')).toBeUndefined();
  });
});
