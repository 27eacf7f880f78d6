import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { SecretClient } from '@azure/keyvault-secrets';
import { ConfigurationError } from '../config.js';
import { isNotFound } from '../store/tables.js';

/** Where connections' API keys live. Nothing else in the app holds a key. */
export interface SecretStore {
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string): Promise<void>;
  delete(name: string): Promise<void>;
}

export const apiKeySecretName = (connectionId: string) => `ac-api-key-${connectionId}`;

/** Key Vault through SecretClient (the app's managed identity), with a short read cache. */
export class KeyVaultSecretStore implements SecretStore {
  readonly #cache = new Map<string, { value: string; until: number }>();
  constructor(
    readonly client: SecretClient,
    readonly cacheTtlInMs = 5 * 60_000,
  ) {}

  async get(name: string): Promise<string | undefined> {
    const hit = this.#cache.get(name);
    if (hit && hit.until > Date.now()) return hit.value;
    try {
      const secret = await this.client.getSecret(name);
      if (secret.value === undefined) return undefined;
      this.#cache.set(name, { value: secret.value, until: Date.now() + this.cacheTtlInMs });
      return secret.value;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async set(name: string, value: string): Promise<void> {
    await this.client.setSecret(name, value, { contentType: 'ActiveCampaign API key' });
    this.#cache.set(name, { value, until: Date.now() + this.cacheTtlInMs });
  }

  async delete(name: string): Promise<void> {
    this.#cache.delete(name);
    try {
      const poller = await this.client.beginDeleteSecret(name);
      await poller.pollUntilDone();
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

/**
 * Local development only: one file per secret in a folder of this machine (mode 0600), readable
 * by every local process of the app. Refused when the app runs in Azure.
 */
export class LocalSecretStore implements SecretStore {
  readonly dir: string;
  constructor(dir: string, runningInAzure: boolean) {
    if (runningInAzure)
      throw new ConfigurationError(
        'KEY_VAULT_URL is not set: the local development secret store is refused when running in Azure',
      );
    this.dir = resolve(dir);
  }

  #path(name: string): string {
    if (!/^[a-zA-Z0-9-]+$/.test(name)) throw new Error(`Invalid secret name "${name}"`);
    return join(this.dir, name);
  }

  async get(name: string): Promise<string | undefined> {
    try {
      return await readFile(this.#path(name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async set(name: string, value: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(this.#path(name), value, { mode: 0o600 });
  }

  async delete(name: string): Promise<void> {
    await rm(this.#path(name), { force: true });
  }
}
