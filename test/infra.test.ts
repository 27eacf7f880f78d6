/**
 * Bicep cannot be compiled here, so the infrastructure is checked as text and JSON: resource
 * types, roles by id, the settings against the code's list, and the workbook and alert queries
 * against the telemetry the code emits.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN_ROLE, CONTRIBUTOR_ROLE } from '../shared/auth/principal.js';
import { PLATFORM_SETTINGS, SETTING_NAMES } from '../shared/config.js';
import { TELEMETRY } from '../shared/telemetry.js';
import { ROOT } from './support/harness.js';

const bicep = readFileSync(join(ROOT, 'infra/main.bicep'), 'utf8');
const workbook = JSON.parse(readFileSync(join(ROOT, 'infra/workbook.json'), 'utf8'));
const alerts = JSON.parse(readFileSync(join(ROOT, 'infra/alerts.json'), 'utf8')) as { name: string; query: string; windowSize: string }[];
const telemetryNames = [...Object.values(TELEMETRY.events), ...Object.values(TELEMETRY.metrics)];

/** The body of one `resource x 'Type@version' = {...}` declaration, by symbolic name. */
function resource(symbol: string): string {
  const start = bicep.search(new RegExp(`^resource ${symbol} '`, 'm'));
  expect(start, `resource ${symbol}`).toBeGreaterThanOrEqual(0);
  const next = bicep.slice(start + 1).search(/^(resource|var|output|param) /m);
  return next < 0 ? bicep.slice(start) : bicep.slice(start, start + 1 + next);
}

/** Names queried in KQL: quoted strings that look like the app's telemetry names. */
const namesIn = (query: string) => [...query.matchAll(/"(Export[A-Za-z]+)"/g)].map((m) => m[1]);

describe('infra/main.bicep', () => {
  it('uses plain resource declarations, no registry modules', () => {
    expect(bicep).not.toMatch(/br\/public:|^module /m);
  });

  it('declares the resources of the design', () => {
    for (const type of [
      'Microsoft.Storage/storageAccounts', 'Microsoft.OperationalInsights/workspaces', 'Microsoft.Insights/components',
      'Microsoft.KeyVault/vaults', 'Microsoft.Web/serverfarms', 'Microsoft.Web/sites', 'Microsoft.Web/sites/config',
      'Microsoft.Authorization/roleAssignments', 'Microsoft.Insights/workbooks', 'Microsoft.Insights/scheduledQueryRules',
    ]) {
      expect(bicep).toContain(`'${type}@`);
    }
  });

  it('runs Node 22 on Flex Consumption with a system-assigned identity', () => {
    expect(resource('plan')).toMatch(/tier: 'FlexConsumption', name: 'FC1'/);
    const app = resource('functionApp');
    expect(app).toMatch(/runtime: \{ name: 'node', version: '22' \}/);
    expect(app).toMatch(/identity: \{ type: 'SystemAssigned' \}/);
    expect(app).toMatch(/authentication: \{ type: 'SystemAssignedIdentity' \}/);
  });

  it('turns keys off: storage shared keys, Application Insights local auth; Key Vault uses RBAC', () => {
    expect(resource('storage')).toMatch(/allowSharedKeyAccess: false/);
    expect(resource('appInsights')).toMatch(/DisableLocalAuth: true/);
    expect(resource('vault')).toMatch(/enableRbacAuthorization: true/);
    expect(bicep).toMatch(/'AzureWebJobsStorage__credential', value: 'managedidentity'/);
    expect(bicep).toMatch(/'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD'/);
  });

  it('grants the identity exactly the roles it needs, by role definition id', () => {
    const expected: Record<string, string> = {
      'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
      '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
      '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
      'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': 'Key Vault Secrets Officer',
      '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
      '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1': 'Storage Blob Data Reader',
    };
    const guids = [...bicep.matchAll(/'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'/g)].map((m) => m[1]);
    expect(new Set(guids)).toEqual(new Set(Object.keys(expected)));
    for (const name of Object.values(expected)) expect(bicep).toContain(name);
    expect((bicep.match(/'Microsoft.Authorization\/roleAssignments@/g) ?? []).length).toBe(6);
    // Only read access to the Customer Insights account, and only when one is named.
    expect(resource('segmentsReader')).toMatch(/= if \(!empty\(segmentsStorageAccountName\)\)[\s\S]*storageBlobDataReader/);
  });

  it('writes exactly the settings the code reads (one list in shared/config.ts)', () => {
    const written = [...resource('functionApp').matchAll(/\{ name: '([A-Za-z_]+)', value:/g)].map((m) => m[1]);
    const base = (name: string) => name.split('__')[0];
    for (const name of written) expect([...SETTING_NAMES, ...PLATFORM_SETTINGS].includes(name as never) || SETTING_NAMES.includes(base(name) as never), name).toBe(true);
    for (const name of SETTING_NAMES) expect(written.some((w) => base(w) === name), name).toBe(true);
  });

  it('sets up App Service Authentication with Entra ID, requiring sign-in except for health', () => {
    const auth = resource('auth');
    expect(auth).toMatch(/name: 'authsettingsV2'/);
    expect(auth).toMatch(/azureActiveDirectory: \{\s*enabled: true/);
    expect(auth).toMatch(/requireAuthentication: true/);
    expect(auth).toMatch(/excludedPaths: \[ '\/api\/health' \]/);
    const roles = JSON.parse(readFileSync(join(ROOT, 'infra/app-roles.json'), 'utf8')).appRoles.map((r: { value: string }) => r.value);
    expect(roles.sort()).toEqual([ADMIN_ROLE, CONTRIBUTOR_ROLE].sort());
  });

  it('deploys the workbook and the alert rules from the files the tests read', () => {
    expect(resource('workbook')).toContain("loadTextContent('workbook.json')");
    expect(bicep).toContain("loadJsonContent('alerts.json')");
  });
});

describe('infra/workbook.json and infra/alerts.json', () => {
  const queries = workbook.items.filter((i: { type: number }) => i.type === 3).map((i: { content: { title: string; query: string } }) => i.content);

  it('charts runs over time, contacts per run, failures, rate-limit waits and poison messages', () => {
    const titles = queries.map((q: { title: string }) => q.title).join(' | ');
    for (const topic of ['Runs over time', 'Contacts per run', 'Failures', 'Rate-limit waits', 'Poison messages']) expect(titles).toContain(topic);
  });

  it('queries only events and metrics the code emits, and every one of them', () => {
    const used = new Set<string>();
    for (const q of [...queries, ...alerts]) {
      const names = namesIn(q.query);
      expect(names.length, q.query).toBeGreaterThan(0);
      for (const n of names) {
        expect(telemetryNames, `${n} in ${q.query}`).toContain(n);
        used.add(n);
      }
      expect(q.query).toMatch(/^(customEvents|customMetrics|union)/);
    }
    expect([...used].sort()).toEqual([...telemetryNames].sort());
  });

  it('alerts on a failed run, a poison message, and an export without a successful run for 24 hours', () => {
    expect(alerts.map((a) => a.name).sort()).toEqual(['alert-no-successful-run', 'alert-poison-message', 'alert-run-failed']);
    expect(alerts.find((a) => a.name === 'alert-run-failed')!.query).toContain('== "failed"');
    const stale = alerts.find((a) => a.name === 'alert-no-successful-run')!;
    expect(stale.query).toContain('ago(24h)');
    expect(stale.windowSize).toBe('P2D');
  });
});

describe('azure.yaml', () => {
  it('provisions infra/main.bicep and deploys the app as a function', () => {
    const yaml = readFileSync(join(ROOT, 'azure.yaml'), 'utf8');
    expect(yaml).toMatch(/provider: bicep\s+path: infra\s+module: main/);
    expect(yaml).toMatch(/host: function/);
    expect(bicep).toContain("'azd-service-name': 'api'");
  });
});
