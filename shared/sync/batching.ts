import type { ImportContact } from '../activecampaign/client.js';
import { MAX_CONTACTS_PER_IMPORT, MAX_IMPORT_BYTES } from '../activecampaign/limits.js';

/** Room left under MAX_IMPORT_BYTES for the envelope and options such as exclude_automations. */
const ENVELOPE_BYTES = 1_000;

export interface ImportBatch {
  contacts: ImportContact[];
  bytes: number;
}

/**
 * Groups contacts into import requests of at most MAX_CONTACTS_PER_IMPORT contacts and
 * MAX_IMPORT_BYTES bytes of JSON. `add` returns a full batch when the new contact does not fit.
 */
export class ImportBatcher {
  #contacts: ImportContact[] = [];
  #bytes = 0;

  constructor(
    readonly maxContacts = MAX_CONTACTS_PER_IMPORT,
    readonly maxBytes = MAX_IMPORT_BYTES - ENVELOPE_BYTES,
  ) {}

  /** The serialized size a contact adds to a request (its JSON and a comma). */
  static sizeOf(contact: ImportContact): number {
    return Buffer.byteLength(JSON.stringify(contact)) + 1;
  }

  /** The contact's size when it fits in a request, else undefined: `add` takes it, so it is measured once. */
  measure(contact: ImportContact): number | undefined {
    const size = ImportBatcher.sizeOf(contact);
    return size <= this.maxBytes ? size : undefined;
  }

  add(contact: ImportContact, size = ImportBatcher.sizeOf(contact)): ImportBatch | undefined {
    if (size > this.maxBytes) throw new RangeError(`A contact of ${size} bytes cannot fit in an import request`);
    let full: ImportBatch | undefined;
    if (this.#contacts.length >= this.maxContacts || this.#bytes + size > this.maxBytes) full = this.flush();
    this.#contacts.push(contact);
    this.#bytes += size;
    return full;
  }

  flush(): ImportBatch | undefined {
    if (this.#contacts.length === 0) return undefined;
    const batch = { contacts: this.#contacts, bytes: this.#bytes };
    this.#contacts = [];
    this.#bytes = 0;
    return batch;
  }
}
