// Blob-created events of the segments storage account, delivered to the app's `segment-events`
// queue with the system topic's own identity (no key, no secret in a parameter), filtered to the
// containers exports may read.

targetScope = 'resourceGroup'

@description('The system topic of the segments storage account.')
param topicName string

@description('The name of the event subscription.')
param name string

@description('The app storage account that holds the queue.')
param queueAccountId string

@description('The queue the events go to.')
param queueName string

@description('The containers exports may read (SEGMENTS_CONTAINERS); empty: every container but the excluded ones.')
param containers array

@description('Containers never read as segments (the app\'s own), when no container is named.')
param excludedContainers array

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: topicName
}

var subjectOf = map(containers, c => '/blobServices/default/containers/${c}/blobs/')
var excludedSubjects = map(excludedContainers, c => '/blobServices/default/containers/${c}')

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: name
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    deliveryWithResourceIdentity: {
      identity: { type: 'SystemAssigned' }
      destination: {
        endpointType: 'StorageQueue'
        properties: {
          resourceId: queueAccountId
          queueName: queueName
          // A day: events older than that are of no use, the scheduled refresh has looked since.
          queueMessageTimeToLiveInSeconds: 86400
        }
      }
    }
    filter: {
      includedEventTypes: ['Microsoft.Storage.BlobCreated']
      advancedFilters: empty(containers)
        ? [{ operatorType: 'StringNotBeginsWith', key: 'subject', values: excludedSubjects }]
        : [{ operatorType: 'StringBeginsWith', key: 'subject', values: subjectOf }]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}
