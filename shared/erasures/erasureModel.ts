import { hash } from 'node:crypto';
import { checkEmail } from '../sync/email.js';

/** What an erasure does to the person's contact in each ActiveCampaign account the app sends to. */
export type ErasureAction = 'delete' | 'unsubscribe';

/**
 * What the app keeps of an erasure: who asked, when, what was done where; never the email. The
 * email's SHA-256 (of its normalised form) lets a later run warn that the person is in a snapshot
 * again; it is not the email, though anyone holding the email can compute it.
 */
export interface ErasureRecord {
  id: string;
  at: string;
  by: string;
  action: ErasureAction;
  emailHash: string;
  exports: { id: string; displayName: string; inState: boolean }[];
  activeCampaign: { connectionId: string; displayName: string; outcome: string }[];
  /** Run files (rejected rows, changed contacts, payload samples, failed emails) the email was taken out of. */
  filesRewritten: number;
}

/** The hash an erasure keeps of an email, in the form the planner compares (normalised as contacts are). */
export const emailHash = (email: string) => hash('sha256', email, 'hex');

/** The email as contacts carry it, or, for a value that is not one, the value trimmed and lower-cased. */
export const normalisedEmail = (value: string) => checkEmail(value).email ?? value.trim().toLowerCase();
