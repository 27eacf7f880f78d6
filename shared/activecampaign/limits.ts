// ActiveCampaign's documented limits: developers.activecampaign.com/reference/rate-limits and
// /reference/bulk-import-contacts ("Use the Bulk Contact Importer API" in ActiveCampaign's help).

/** "Up to 250 contacts may be included in a single request." */
export const MAX_CONTACTS_PER_IMPORT = 250;
/** The importer refuses request bodies over 400,000 bytes. */
export const MAX_IMPORT_BYTES = 400_000;
/** 5 requests per second per account, shared by every key and integration. */
export const DEFAULT_REQUESTS_PER_SECOND = 5;
/** "Up to 100 imports may be requested per minute" (20/minute for single-contact requests). */
export const DEFAULT_BULK_IMPORTS_PER_MINUTE = 100;
