// Segment export to ActiveCampaign: everything the app needs in one resource group, for `azd up` or
// `az deployment group create`. Plain resource declarations and one local module (no registry modules:
// they need registry access at deployment time). Compiled and linted by `npm test` (test/infra.test.ts).

targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('The azd environment name (AZURE_ENV_NAME): 1 to 64 letters, digits and - _ . ( ). Every resource name is derived from it.')
param environmentName string

// Flex Consumption is not offered everywhere. These are the regions Microsoft's own Flex Consumption
// azd template allows: Azure-Samples/functions-quickstart-typescript-azd, infra/main.bicep at commit
// cba392291ff7 (2026-02-24), less eastus2euap (an early-access canary region). Azure adds regions:
// `az functionapp list-flexconsumption-locations` lists today's; add yours here if it has Flex Consumption now.
@metadata({ azd: { type: 'location' } })
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@description('Region of every resource (one with Flex Consumption).')
param location string

@description('Application (client) ID of the Entra ID app registration that defines the app roles Exports.Admin and Exports.Contributor (see infra/app-roles.json).')
param authClientId string

@description('Tenant of that app registration.')
param authTenantId string = subscription().tenantId

@description('Optional: the existing storage account where Customer Insights writes segment exports, in any resource group of this subscription. The deployment only grants the app read access to it (a role assignment in that group); it never creates, changes or deletes the account. Empty: segments are read from the app storage account.')
param segmentsStorageAccountName string = ''

@description('The resource group of segmentsStorageAccountName. Keep the account out of the app\'s own group: `azd down` deletes that group and everything in it. Empty: this deployment\'s group.')
param segmentsStorageResourceGroup string = ''

@description('Optional: the Event Grid system topic that already exists on the segments storage account (an account has at most one; `az eventgrid system-topic list -g <group>` shows it). The deployment adds its event subscription to it and never changes or deletes it. Empty: a system topic is created beside the account, in its resource group.')
param segmentsEventsTopicName string = ''

@description('NCRONTAB schedule of the scheduled refresh (the fallback: new snapshots are noticed within seconds by their blob-created events).')
param refreshSchedule string = '0 */15 * * * *'

@description('Per-account budget kept by the whole app (ActiveCampaign allows 5 requests per second).')
param requestsPerSecond int = 5

@description('Per-account bulk-import budget (ActiveCampaign allows 100 per minute).')
param bulkImportsPerMinute int = 100

@description('Email address that receives the alerts; empty for none.')
param alertEmail string = ''

@description('Optional: a URL that receives every alert as JSON (Azure Monitor\'s common alert schema): a Teams workflow, a Slack workflow or a PagerDuty Azure integration. Kept secret: such URLs carry their own key.')
@secure()
param alertWebhookUrl string = ''

@description('Comma list of the containers of the segments storage that exports may read; empty: any container but the app\'s own.')
param segmentsContainers string = ''

@description('A folder snapshot is taken once its files have not changed for this many seconds.')
param snapshotQuietSeconds int = 300

@description('Days that run files (rejected rows, payload samples: personal data) are kept.')
param runRetentionDays int = 30

@description('Alert when more than this share (%) of the contacts a run tried to send failed.')
param failedContactsAlertPercent int = 5

@description('Key Vault purge protection. Off (the default, for development): `azd down --purge` frees the vault\'s name and the next `azd up` creates it again. On (production): a deleted vault keeps its name for 30 days, so redeploy into another resource group or environment name.')
param keyVaultPurgeProtection bool = false

// Resource names from any name azd accepts: the environment name's letters and digits (lower case,
// the other characters azd allows are dropped) and a suffix unique to the resource group and environment.
var nameLetters = toLower(replace(replace(replace(replace(replace(environmentName, '-', ''), '_', ''), '.', ''), '(', ''), ')', ''))
var baseName = empty(nameLetters) ? 'segexport' : nameLetters
var suffix = uniqueString(resourceGroup().id, environmentName)
var names = {
  storage: 'st${take(baseName, 9)}${suffix}'
  vault: 'kv${take(baseName, 9)}${suffix}'
  // At most 32 characters: the Functions host derives its host ID from the first 32 of the app's name.
  functionApp: 'func-${take(baseName, 13)}-${suffix}'
  plan: 'plan-${take(baseName, 30)}-${suffix}'
  logs: 'log-${take(baseName, 30)}-${suffix}'
  appInsights: 'appi-${take(baseName, 30)}-${suffix}'
  actionGroup: 'ag-${take(baseName, 30)}-${suffix}'
  identity: 'id-${take(baseName, 30)}-${suffix}'
  eventsTopic: 'evgt-${take(baseName, 30)}-${suffix}'
  eventsSubscription: 'segment-events-${take(baseName, 30)}-${suffix}'
  actionGroupShort: take('seg${baseName}', 12)
}
var deploymentContainer = 'app-package'
// The queue Event Grid delivers blob-created events of the segments account to (shared/segments/segmentEvents.ts).
var segmentEventsQueue = 'segment-events'
// Never read as segments: the deployment's package, the app's run files (and each run's work container,
// export-runs-<run id>: the filter matches name prefixes), the Functions host's own.
var appContainers = [deploymentContainer, 'export-runs', 'azure-webjobs-']
var segmentsGroup = empty(segmentsStorageAccountName) || empty(segmentsStorageResourceGroup)
  ? resourceGroup().name
  : segmentsStorageResourceGroup
var namedContainers = map(filter(split(segmentsContainers, ','), c => !empty(trim(c))), c => trim(c))

// Built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  storageQueueDataMessageSender: 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
}

// The app's identity, created first: its role assignments exist before the Function App does, so
// that the first deployment of the package (which reads the deployment container with it) does not
// wait on a system-assigned identity born in the same deployment.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: names.identity
  location: location
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: names.storage
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Created here so that Event Grid can deliver from the first blob on (the app creates its other queues itself).
resource segmentEventsQueueResource 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: segmentEventsQueue
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: names.logs
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
    // Queries and ingestion through Entra ID only (Application Insights below has local auth off too).
    features: { disableLocalAuth: true }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: names.appInsights
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: names.vault
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 30
    // Off is not allowed once on: omit the property instead of writing false.
    enablePurgeProtection: keyVaultPurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: names.plan
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: names.functionApp
  location: location
  kind: 'functionapp,linux'
  tags: { 'azd-service-name': 'api' }
  identity: { type: 'UserAssigned', userAssignedIdentities: { '${identity.id}': {} } }
  // The package goes to this container with the identity's role: both exist before the app does.
  dependsOn: [ packageContainer, blobOwner ]
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
      runtime: { name: 'node', version: '22' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        // The app's storage through the managed identity (no keys: shared-key access is off).
        { name: 'AzureWebJobsStorage__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
        { name: 'AzureWebJobsStorage__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
        { name: 'AzureWebJobsStorage__tableServiceUri', value: storage.properties.primaryEndpoints.table }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
        // The app's own clients (storage, Key Vault, Application Insights) take the same identity.
        { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
        { name: 'SEGMENTS_STORAGE', value: empty(segmentsStorageAccountName) ? storage.properties.primaryEndpoints.blob : 'https://${segmentsStorageAccountName}.blob.${environment().suffixes.storage}/' }
        { name: 'KEY_VAULT_URL', value: vault.properties.vaultUri }
        { name: 'REFRESH_SCHEDULE', value: refreshSchedule }
        { name: 'ACTIVECAMPAIGN_REQUESTS_PER_SECOND', value: string(requestsPerSecond) }
        { name: 'ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE', value: string(bulkImportsPerMinute) }
        { name: 'ACTIVECAMPAIGN_INSECURE_HOSTS', value: '' }
        { name: 'WEBHOOK_INSECURE_HOSTS', value: '' }
        { name: 'IMPORT_POLL_INTERVAL_SECONDS', value: '5' }
        { name: 'ACTIVECAMPAIGN_TIMEOUT_SECONDS', value: '30' }
        { name: 'SEGMENTS_CONTAINERS', value: segmentsContainers }
        { name: 'SNAPSHOT_QUIET_SECONDS', value: string(snapshotQuietSeconds) }
        { name: 'SNAPSHOT_MAX_ROWS', value: '10000000' }
        { name: 'PLANNER_EMAILS_PER_PASS', value: '4000000' }
        { name: 'RUN_RETENTION_DAYS', value: string(runRetentionDays) }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
      ]
    }
  }
}

// App Service Authentication: Entra ID sign-in; the app reads roles from x-ms-client-principal.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    // Browsers are sent to Entra ID to sign in (the console at the root URL); callers that are not
    // browsers get 401 (App Service tells them apart by their User-Agent). Only health is open.
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: [ '/api/health' ]
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          // The cloud's own sign-in endpoint (public, government and China clouds differ).
          openIdIssuer: '${environment().authentication.loginEndpoint}${authTenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [ 'api://${authClientId}' ]
        }
      }
    }
    login: { tokenStore: { enabled: false } }
  }
}

// Role assignment names are derived from the scope's and the identity's ids.
// Least privilege for the app's identity:
// - Storage Blob Data Owner on its own account: the Functions host takes blob leases, the app writes
//   run files and deployment reads the package (Contributor lacks the lease/ownership operations the host needs).
// - Storage Queue Data Contributor: queue triggers and the app's sends.
// - Storage Table Data Contributor: connections, exports, runs, batches, rate budget.
// - Key Vault Secrets Officer: the app writes and deletes API keys (Secrets User could only read).
// - Monitoring Metrics Publisher: telemetry to Application Insights with local auth off.
// - Storage Blob Data Reader on the Customer Insights account (optional): read segments, nothing else.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageQueueDataContributor)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}

resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageTableDataContributor)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, identity.id, roles.keyVaultSecretsOfficer)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: appInsights
  name: guid(appInsights.id, identity.id, roles.monitoringMetricsPublisher)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// Read access to the Customer Insights account, granted in its own resource group. Only a role
// assignment is deployed there: the account itself is never created, changed or deleted.
module segmentsReader 'modules/segmentsReader.bicep' = if (!empty(segmentsStorageAccountName)) {
  name: 'segments-reader-${suffix}'
  scope: resourceGroup(empty(segmentsStorageResourceGroup) ? resourceGroup().name : segmentsStorageResourceGroup)
  params: {
    accountName: segmentsStorageAccountName
    principalId: identity.properties.principalId
    roleDefinitionId: roles.storageBlobDataReader
  }
}

// New snapshots are noticed when they land: Event Grid's blob-created events of the segments account
// (a system topic beside it, created unless one exists) go to the app's `segment-events` queue,
// delivered with the topic's own identity, which may only add messages to that one queue.
resource segmentsAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  scope: resourceGroup(segmentsGroup)
  name: empty(segmentsStorageAccountName) ? names.storage : segmentsStorageAccountName
}

module segmentEventsTopic 'modules/segmentEventsTopic.bicep' = {
  name: 'segment-events-topic-${suffix}'
  scope: resourceGroup(segmentsGroup)
  // The account may be the app's own, created above.
  dependsOn: [storage]
  params: {
    accountName: segmentsAccount.name
    existingTopicName: segmentsEventsTopicName
    name: names.eventsTopic
    location: segmentsAccount.location
  }
}

resource eventsSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: segmentEventsQueueResource
  name: guid(segmentEventsQueueResource.id, 'segment-events-topic', roles.storageQueueDataMessageSender)
  properties: {
    principalId: segmentEventsTopic.outputs.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataMessageSender)
  }
}

module segmentEventsSubscription 'modules/segmentEventsSubscription.bicep' = {
  name: 'segment-events-subscription-${suffix}'
  scope: resourceGroup(segmentsGroup)
  // Event Grid checks at creation that the topic's identity may write to the queue.
  dependsOn: [eventsSender]
  params: {
    topicName: segmentEventsTopic.outputs.name
    name: names.eventsSubscription
    queueAccountId: storage.id
    queueName: segmentEventsQueueResource.name
    containers: namedContainers
    excludedContainers: appContainers
  }
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, environmentName, 'workbook')
  location: location
  kind: 'shared'
  properties: {
    displayName: 'Segment export to ActiveCampaign'
    category: 'workbook'
    sourceId: appInsights.id
    // Opened from Azure Monitor → Workbooks or from the resource group, the queries run against Application Insights.
    serializedData: replace(loadTextContent('workbook.json'), '"fallbackResourceIds": []', '"fallbackResourceIds": ["${appInsights.id}"]')
  }
}

var alertReceivers = !empty(alertEmail) || !empty(alertWebhookUrl)

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (alertReceivers) {
  name: names.actionGroup
  location: 'global'
  properties: {
    groupShortName: names.actionGroupShort
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [ { name: 'operator', emailAddress: alertEmail, useCommonAlertSchema: true } ]
    webhookReceivers: empty(alertWebhookUrl) ? [] : [ { name: 'webhook', serviceUri: alertWebhookUrl, useCommonAlertSchema: true } ]
  }
}

var alertRules = loadJsonContent('alerts.json')

resource alerts 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [for rule in alertRules: {
  name: '${rule.name}-${suffix}'
  location: location
  properties: {
    displayName: rule.displayName
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [ appInsights.id ]
    evaluationFrequency: rule.evaluationFrequency
    windowSize: rule.windowSize
    criteria: {
      allOf: [
        {
          query: replace(rule.query, '{failedContactsAlertPercent}', string(failedContactsAlertPercent))
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: alertReceivers ? [ actionGroup.id ] : [] }
  }
}]

output functionAppName string = functionApp.name
output consoleUrl string = 'https://${functionApp.properties.defaultHostName}/'
// Add this as a Web redirect URI of the app registration (README, "Deploy to Azure").
output AUTH_REDIRECT_URI string = 'https://${functionApp.properties.defaultHostName}/.auth/login/aad/callback'
output functionAppUrl string = 'https://${functionApp.properties.defaultHostName}/api'
output keyVaultUrl string = vault.properties.vaultUri
output storageAccountName string = storage.name
output AZURE_FUNCTION_APP_NAME string = functionApp.name
@description('The Event Grid system topic of the segments account, and the app\'s subscription to it (in that account\'s group).')
output segmentsEventsTopic string = segmentEventsTopic.outputs.name
output segmentsEventsSubscription string = names.eventsSubscription
