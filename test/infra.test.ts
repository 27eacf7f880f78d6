/**
 * Bicep cannot be compiled here, so the infrastructure is checked as text and JSON: resource
 * types, roles by id, the settings against the code's list, and the workbook and alert queries
 * against the telemetry the code emits.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROLE, CONTRIBUTOR_ROLE } from '../shared/auth/principal.js';
import { PLATFORM_SETTINGS, SETTING_NAMES } from '../shared/config.js';
import { emptyCounts, type Run } from '../shared/model.js';
import { handlePoisoned, type PoisonDeps } from '../shared/runs/poisonedMessages.js';
import { reportRunFinished } from '../shared/runs/runLifecycle.js';
import { QUEUES } from '../shared/runs/runQueues.js';
import { LogTelemetry, TELEMETRY } from '../shared/telemetry.js';
import { buildPackage, type PackageResult } from '../tools/package.js';
import { bicepNames } from './support/bicepNames.js';
import { ROOT } from './support/harness.js';
import { kqlProblems } from './support/kusto.js';

const bicep = readFileSync(join(ROOT, 'infra/main.bicep'), 'utf8');
const workbook = JSON.parse(readFileSync(join(ROOT, 'infra/workbook.json'), 'utf8'));
const alerts = JSON.parse(readFileSync(join(ROOT, 'infra/alerts.json'), 'utf8')) as { name: string; query: string; windowSize: string; description: string }[];
const parameters = JSON.parse(readFileSync(join(ROOT, 'infra/main.parameters.json'), 'utf8')).parameters as Record<string, { value: string }>;
/** An alert's query as deployed: main.bicep fills in the threshold parameter. */
const deployedQuery = (query: string) => query.replace('{failedContactsAlertPercent}', '5');
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
    // Browsers opening the console go to the sign-in page instead of a bare 401.
    expect(auth).toMatch(/unauthenticatedClientAction: 'RedirectToLoginPage'/);
    expect(auth).toMatch(/redirectToProvider: 'azureactivedirectory'/);
    expect(auth).toMatch(/excludedPaths: \[ '\/api\/health' \]/);
    // The cloud's own sign-in endpoint, never the public cloud's written out.
    expect(auth).toMatch(/openIdIssuer: '\$\{environment\(\)\.authentication\.loginEndpoint\}\$\{authTenantId\}\/v2\.0'/);
    expect(bicep).not.toContain('login.microsoftonline.com');
    // The redirect URI the app registration needs comes out of the deployment (azd env get-values).
    expect(bicep).toContain("output AUTH_REDIRECT_URI string = 'https://${functionApp.properties.defaultHostName}/.auth/login/aad/callback'");
    // An array, as `az ad app create --app-roles @infra/app-roles.json` and the manifest's appRoles take it.
    const roles = (JSON.parse(readFileSync(join(ROOT, 'infra/app-roles.json'), 'utf8')) as { value: string; allowedMemberTypes: string[] }[]).map((r) => r.value);
    expect(roles.sort()).toEqual([ADMIN_ROLE, CONTRIBUTOR_ROLE].sort());
  });

  it('deploys the workbook and the alert rules from the files the tests read', () => {
    expect(resource('workbook')).toContain("loadTextContent('workbook.json')");
    expect(bicep).toContain("loadJsonContent('alerts.json')");
    // The workbook's queries need a resource when it is opened outside Application Insights: the
    // deployment fills in the one it created, replacing the file's empty list (which must be there, once).
    const [, target] = resource('workbook').match(/replace\(loadTextContent\('workbook.json'\), '([^']+)'/)!;
    expect(readFileSync(join(ROOT, 'infra/workbook.json'), 'utf8').split(target)).toHaveLength(2);
    expect(resource('workbook')).toContain('"fallbackResourceIds": ["${appInsights.id}"]');
    expect(resource('alerts')).toContain("replace(rule.query, '{failedContactsAlertPercent}', string(failedContactsAlertPercent))");
  });

  it('asks azd for a region that has Flex Consumption', () => {
    const location = bicep.slice(bicep.indexOf('@metadata({ azd: { type: \'location\' } })'), bicep.indexOf('param location string'));
    expect(location).toContain("@metadata({ azd: { type: 'location' } })");
    const allowed = [...location.matchAll(/^\s+'([a-z0-9]+)'$/gm)].map((m) => m[1]);
    expect(allowed.length).toBeGreaterThanOrEqual(5);
    expect(allowed).toEqual(expect.arrayContaining(['eastus', 'northeurope', 'swedencentral']));
  });

  it('keeps Key Vault purge protection off unless asked, and never writes false once it is on', () => {
    expect(bicep).toMatch(/param keyVaultPurgeProtection bool = false/);
    expect(resource('vault')).toMatch(/enablePurgeProtection: keyVaultPurgeProtection \? true : null/);
    expect(parameters.keyVaultPurgeProtection.value).toBe('${KEY_VAULT_PURGE_PROTECTION=false}');
  });

  it('gets every parameter it needs from main.parameters.json, and only parameters it declares', () => {
    const declared = [...bicep.matchAll(/^param (\w+) (\w+)( = .*)?$/gm)].map((m) => ({ name: m[1], required: !m[3] }));
    for (const p of declared.filter((d) => d.required)) expect(Object.keys(parameters), p.name).toContain(p.name);
    for (const name of Object.keys(parameters)) expect(declared.map((d) => d.name)).toContain(name);
    expect(parameters.environmentName.value).toBe('${AZURE_ENV_NAME}');
    expect(parameters.location.value).toBe('${AZURE_LOCATION}');
    expect(bicep).toMatch(/@minLength\(1\)\s*@maxLength\(64\)[\s\S]*?param environmentName string/);
  });
});

describe('resource names', () => {
  // Names azd accepts for an environment (1 to 64 characters), including short, long and punctuated ones.
  const environments = ['a', 'segexport-dev', 'Prod_EU.v2', 'x'.repeat(64), 'my-very-long-environment-name_for.the-marketing-team-in-europe01', '-_.', '(test)'];

  it('are valid for every resource type, from any environment name azd accepts', () => {
    for (const env of environments) {
      const names = bicepNames(bicep, env);
      // learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules
      expect(names.storage, env).toMatch(/^[a-z0-9]{3,24}$/);
      expect(names.vault, env).toMatch(/^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/);
      expect(names.functionApp, env).toMatch(/^[a-zA-Z0-9](?!.*--)[a-zA-Z0-9-]{0,58}[a-zA-Z0-9]$/);
      expect(names.functionApp.length, `${env}: the host ID is the name's first 32 characters`).toBeLessThanOrEqual(32);
      expect(names.plan, env).toMatch(/^[a-zA-Z0-9-]{1,60}$/);
      expect(names.logs, env).toMatch(/^[a-zA-Z0-9][a-zA-Z0-9-]{2,61}[a-zA-Z0-9]$/);
      expect(names.appInsights, env).toMatch(/^[^%&\\?/]{1,255}$/);
      expect(names.actionGroup, env).toMatch(/^[a-zA-Z0-9-]{1,260}$/);
      expect(names.actionGroupShort.length, env).toBeLessThanOrEqual(12);
    }
  });

  it('differ between environments and between resource groups, and keep the environment name readable', () => {
    const dev = bicepNames(bicep, 'segexport-dev');
    expect(dev.functionApp).toMatch(/^func-segexportdev-[a-z0-9]{13}$/);
    expect(bicepNames(bicep, 'segexport-prod').storage).not.toBe(dev.storage);
    expect(bicepNames(bicep, 'segexport-dev', '/subscriptions/0000/resourceGroups/other').vault).not.toBe(dev.vault);
    expect(bicepNames(bicep, 'segexport-dev')).toEqual(dev);
  });

  it('are the only names the globally named resources get', () => {
    for (const symbol of ['storage', 'vault', 'functionApp', 'plan', 'logs', 'appInsights', 'actionGroup']) {
      expect(resource(symbol)).toMatch(/^\s+name: names\.\w+$/m);
    }
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

  it('are sound KQL against the Application Insights tables (checked by the Kusto language service)', () => {
    for (const q of [...queries, ...alerts]) expect(kqlProblems(deployedQuery(q.query)), q.query).toEqual([]);
    // The checker itself catches the mistakes it is here for.
    expect(kqlProblems('customEvents | where nmae == "ExportRunFinished"')).toHaveLength(1);
    expect(kqlProblems('customEvents | summarize count() by')).not.toEqual([]);
  });

  it('read only the dimensions and measurements the events carry', async () => {
    const telemetry = new LogTelemetry();
    const run: Run = {
      runId: 'r1', exportId: 'e1', trigger: 'schedule', status: 'failed', counts: emptyCounts(), error: 'x', startedAt: new Date().toISOString(),
      dryRun: false, fullSync: false, batches: { done: 0 },
    };
    reportRunFinished({ telemetry }, run, 'Code');
    const deps = { telemetry, config: { importPollIntervalInMs: 1000 }, queues: { send: async () => {} } } as unknown as PoisonDeps;
    await handlePoisoned(deps, QUEUES.batches, { exportId: 'e1', runId: 'r1', batch: 3 });
    const emitted = telemetry.lines.map((l) => JSON.parse(l.slice('telemetry '.length)) as { event: string; properties: object; measurements?: object });
    const keys = (event: string, part: 'properties' | 'measurements') => Object.keys(emitted.find((e) => e.event === event)?.[part] ?? {});
    for (const q of [...queries, ...alerts]) {
      const events = namesIn(q.query).filter((n) => n in { [TELEMETRY.events.runFinished]: 1, [TELEMETRY.events.poisonMessage]: 1 });
      for (const [, dimension] of q.query.matchAll(/customDimensions\.(\w+)/g)) {
        expect(events.some((e) => keys(e, 'properties').includes(dimension)), `${dimension} in ${q.query}`).toBe(true);
      }
      for (const [, measurement] of q.query.matchAll(/customMeasurements\.(\w+)/g)) {
        expect(events.some((e) => keys(e, 'measurements').includes(measurement)), `${measurement} in ${q.query}`).toBe(true);
      }
    }
  });

  it('alerts on a failed run, a poison message, an export without a successful run for 24 hours, and too many failed contacts', () => {
    expect(alerts.map((a) => a.name).sort()).toEqual(['alert-failed-contacts', 'alert-no-successful-run', 'alert-poison-message', 'alert-run-failed']);
    expect(alerts.find((a) => a.name === 'alert-run-failed')!.query).toContain('== "failed"');
    const stale = alerts.find((a) => a.name === 'alert-no-successful-run')!;
    expect(stale.query).toContain('ago(24h)');
    expect(stale.windowSize).toBe('P2D');
    // A run that sent nothing and confirmed nothing is not a success.
    expect(stale.query).toMatch(/confirmed = toint\(customMeasurements\.sent\) \+ toint\(customMeasurements\.unchanged\)/);
    expect(stale.query).toContain('confirmed > 0');
    const failedContacts = alerts.find((a) => a.name === 'alert-failed-contacts')!;
    expect(failedContacts.query).toContain('{failedContactsAlertPercent}');
    expect(bicep).toMatch(/param failedContactsAlertPercent int = 5/);
  });
});

describe('azure.yaml', () => {
  const yaml = readFileSync(join(ROOT, 'azure.yaml'), 'utf8');

  it('provisions infra/main.bicep and deploys the app as a function', () => {
    expect(yaml).toMatch(/provider: bicep\s+path: infra\s+module: main/);
    expect(yaml).toMatch(/host: function/);
    expect(bicep).toContain("'azd-service-name': 'api'");
  });

  it('deploys the staged package, built by npm run package before azd packages it', () => {
    expect(yaml).toMatch(/project: \.\/deploy\n/);
    expect(yaml).toMatch(/prepackage:\s+shell: sh\s+run: npm ci && npm run package/);
    // deploy/ exists in a fresh clone (azd checks the project folder) but its contents are never committed.
    const ignored = readFileSync(join(ROOT, 'deploy/.gitignore'), 'utf8');
    expect(ignored.split('\n')).toEqual(expect.arrayContaining(['*', '!.gitignore']));
  });
});

describe('the deployment package (npm run package)', () => {
  let dir: string;
  let pkg: PackageResult;
  const DEV_ONLY = ['node', 'azurite', 'vitest', 'typescript', 'tsx', 'vite', 'playwright-core', '@sparticuz/chromium', 'react', '@fluentui/react-components', 'fflate'];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'package-'));
    // Built into a folder of its own, so that the working tree's dist/ and deploy/ are left alone.
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { cwd: ROOT });
    cpSync(join(ROOT, 'dist/console'), join(dir, 'dist/console'), { recursive: true });
    pkg = await buildPackage({ build: false, distDir: join(dir, 'dist'), stageDir: join(dir, 'deploy'), zipPath: join(dir, 'deploy.zip') });
  }, 240_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the production dependencies and none of the development tools', () => {
    const production = Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies);
    for (const name of production) expect(pkg.dependencies, name).toContain(name);
    for (const name of DEV_ONLY) {
      expect(pkg.dependencies, name).not.toContain(name);
      expect(existsSync(join(dir, 'deploy/node_modules', name)), name).toBe(false);
    }
    const deployed = JSON.parse(readFileSync(join(dir, 'deploy/package.json'), 'utf8'));
    expect(deployed.devDependencies).toBeUndefined();
    expect(deployed.scripts).toBeUndefined();
    expect(deployed.main).toBe('dist/functions/*.js');
    expect(existsSync(join(dir, 'deploy/dist/console/index.html'))).toBe(true);
    expect(existsSync(join(dir, 'deploy/host.json'))).toBe(true);
    // About 26 MB when this was written; a dev tool slipping in would add hundreds.
    expect(pkg.zipBytes).toBeLessThan(60 * 2 ** 20);
  });

  it('registers every function from the package alone (its own node_modules, no TypeScript)', () => {
    const list = (args: string[]) => {
      const out = execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'tools/localRunner/main.ts'), '--list', ...args], { cwd: ROOT, encoding: 'utf8' });
      return (JSON.parse(out.slice(out.indexOf('['))) as { name: string }[]).map((r) => r.name).sort();
    };
    const fromPackage = list(['--functions', join(dir, 'deploy/dist/functions'), '--host-json', join(dir, 'deploy/host.json')]);
    expect(fromPackage).toEqual(list([]));
    expect(fromPackage.length).toBeGreaterThan(30);
  }, 60_000);
});
