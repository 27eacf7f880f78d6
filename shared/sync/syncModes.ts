import type { SyncMode } from '../model.js';

/** What each sync mode does, as data: the planner reads this table instead of branching on the mode. */
export const SYNC_MODES: Record<SyncMode, { unsubscribeLeavers: boolean; description: string }> = {
  upsert: {
    unsubscribeLeavers: false,
    description: 'new and changed contacts are subscribed; contacts who left the segment stay on the list',
  },
  mirror: {
    unsubscribeLeavers: true,
    description: 'as upsert, and contacts sent by earlier runs who left the segment are unsubscribed from the list',
  },
};
