// Read access for the app to the storage account where Customer Insights writes segment exports, in
// that account's own resource group. The account is referenced, never declared: no deployment of the
// app creates, changes or deletes it.

targetScope = 'resourceGroup'

@description('The existing storage account of the segment exports.')
param accountName string

@description('The principal (the app\'s identity) that reads the segments.')
param principalId string

@description('The role to grant: Storage Blob Data Reader.')
param roleDefinitionId string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: accountName
}

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: account
  name: guid(account.id, principalId, roleDefinitionId)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)
  }
}
