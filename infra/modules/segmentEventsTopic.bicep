// The Event Grid system topic of the segments storage account, in that account's resource group
// (a system topic lives beside its source, and an account has at most one). An existing topic is
// only referenced: the deployment never changes or deletes one it did not create. A created one
// has a system-assigned identity, which delivers the events to the app's queue.

targetScope = 'resourceGroup'

@description('The existing storage account of the segment exports.')
param accountName string

@description('An Event Grid system topic that already exists on that account; empty: one is created.')
param existingTopicName string

@description('The name of the system topic to create when there is none.')
param name string

@description('The account\'s region (a system topic is in its source\'s region).')
param location string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: accountName
}

resource created 'Microsoft.EventGrid/systemTopics@2025-02-15' = if (empty(existingTopicName)) {
  name: name
  location: location
  identity: { type: 'SystemAssigned' }
  properties: {
    source: account.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource existingTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = if (!empty(existingTopicName)) {
  name: existingTopicName
}

output name string = empty(existingTopicName) ? created.name : existingTopic.name
@description('The identity that delivers events (an existing topic needs a system-assigned one).')
output principalId string = empty(existingTopicName) ? created!.identity.principalId : existingTopic!.identity.principalId
