/** The words the console uses for an export's settings. */
export const MODE_NAMES = { upsert: 'Upsert', mirror: 'Mirror', updateOnly: 'Update only' } as const;
export const SCHEDULE_NAMES = { refresh: 'When a new snapshot lands', manual: 'On demand only' } as const;
