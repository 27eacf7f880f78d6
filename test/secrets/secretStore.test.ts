import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../shared/config.js';
import { createConnection } from '../../shared/connections/connectionService.js';
import { KeyVaultSecretStore, LocalSecretStore } from '../../shared/secrets/secretStore.js';
import { createServices } from '../../shared/services.js';
import {
  EMULATOR_API_KEY,
  startActiveCampaignEmulator,
  type ActiveCampaignEmulator,
} from '../../tools/acEmulator/server.js';
import { startAzurite, type AzuriteInstance } from '../../tools/azurite.js';
import { FakeKeyVault, fakeCredential } from '../support/fakeKeyVault.js';

describe('Key Vault through the real SecretClient against a local fake', () => {
  let vault: FakeKeyVault;
  let client: SecretClient;

  beforeAll(async () => {
    vault = await new FakeKeyVault().listen();
    client = new SecretClient(vault.url, fakeCredential, {
      allowInsecureConnection: true,
      disableChallengeResourceVerification: true,
    });
  });
  afterAll(() => vault.close());

  it('answers the challenge, then sets, gets and deletes secrets', async () => {
    const store = new KeyVaultSecretStore(client, 0);
    await store.set('ac-api-key-1', 'secret-value-1');
    // The first request goes without a token and is challenged; the retry carries the token.
    expect(vault.log[0]).toMatchObject({ method: 'PUT', status: 401, authorized: false });
    expect(vault.log[1]).toMatchObject({ method: 'PUT', status: 200, authorized: true });
    expect(await store.get('ac-api-key-1')).toBe('secret-value-1');
    expect(await store.get('ac-api-key-missing')).toBeUndefined();
    await store.delete('ac-api-key-1');
    expect(vault.secrets.has('ac-api-key-1')).toBe(false);
    expect(vault.deleted.has('ac-api-key-1')).toBe(true);
    expect(await store.get('ac-api-key-1')).toBeUndefined();
    await store.delete('ac-api-key-never-there');
  });

  it('caches reads for a short time', async () => {
    const store = new KeyVaultSecretStore(client, 60_000);
    await store.set('ac-api-key-2', 'v2');
    const before = vault.log.length;
    expect(await store.get('ac-api-key-2')).toBe('v2');
    expect(await store.get('ac-api-key-2')).toBe('v2');
    expect(vault.log.length).toBe(before);
  });

  describe('a connection created with KEY_VAULT_URL', () => {
    let azurite: AzuriteInstance;
    let emulator: ActiveCampaignEmulator;
    beforeAll(async () => {
      azurite = await startAzurite();
      emulator = await startActiveCampaignEmulator();
    });
    afterAll(async () => {
      await emulator.close();
      await azurite.stop();
    });

    it('keeps its key in Key Vault and nowhere on disk', async () => {
      const localDir = mkdtempSync(join(tmpdir(), 'nolocal-'));
      const cfg = readConfig({
        AzureWebJobsStorage: azurite.connectionString,
        KEY_VAULT_URL: vault.url,
        ACTIVECAMPAIGN_INSECURE_HOSTS: emulator.hostname,
        LOCAL_SECRETS_DIR: localDir,
      });
      const svc = createServices(cfg, { credential: fakeCredential, secretClient: client });
      const connection = await createConnection(
        svc,
        { name: 'a@example.com', roles: ['admin'] },
        { displayName: 'kv', hostname: emulator.hostname, apiKey: EMULATOR_API_KEY, dataPrivacyConsent: true },
      );
      expect(vault.secrets.get(`ac-api-key-${connection.id}`)?.value).toBe(EMULATOR_API_KEY);
      expect(readdirSync(localDir)).toEqual([]);
      expect(await (await svc.activeCampaign(connection)).getCurrentUser()).toMatchObject({ id: '1' });
    });
  });
});

describe('the local development secret store', () => {
  it('refuses to run in Azure', () => {
    expect(() => new LocalSecretStore('.local/secrets', true)).toThrow(/refused when running in Azure/);
    expect(() => readConfig({ WEBSITE_INSTANCE_ID: 'abc' })).not.toThrow();
    expect(() => createServices(readConfig({ WEBSITE_INSTANCE_ID: 'abc' }))).toThrow(/KEY_VAULT_URL is not set/);
  });

  it('keeps one file per secret, readable only by its owner', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'local-'));
    const store = new LocalSecretStore(dir, false);
    await store.set('ac-api-key-x', 'v');
    expect(await store.get('ac-api-key-x')).toBe('v');
    const { statSync } = await import('node:fs');
    expect(statSync(join(dir, 'ac-api-key-x')).mode & 0o077).toBe(0);
    await store.delete('ac-api-key-x');
    expect(await store.get('ac-api-key-x')).toBeUndefined();
    await expect(store.set('../escape', 'v')).rejects.toThrow(/Invalid secret name/);
  });
});
