import type { SyncMode } from '../model.js';

interface ModeRules {
  unsubscribeLeavers: boolean;
  /** false: each contact is looked up before it is sent, and one ActiveCampaign does not have is left out. */
  createsContacts: boolean;
  description: string;
}

/** What each sync mode does, as data: the planner and the send worker read this table instead of branching on it. */
export const SYNC_MODES: Record<SyncMode, ModeRules> = {
  upsert: {
    unsubscribeLeavers: false,
    createsContacts: true,
    description: 'new and changed contacts are subscribed; contacts who left the segment stay on the list',
  },
  mirror: {
    unsubscribeLeavers: true,
    createsContacts: true,
    description: 'as upsert, and contacts sent by earlier runs who left the segment are unsubscribed from the list',
  },
  updateOnly: {
    unsubscribeLeavers: false,
    createsContacts: false,
    description:
      'only contacts that already exist in ActiveCampaign are updated and subscribed; the others are counted as notInActiveCampaign and never created',
  },
};
