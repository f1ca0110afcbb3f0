/** Blocks the SIP side put in force (GET /operator/bans, GET /sip-blocks). */

export interface BanView {
  id: string;
  /** An address as a whole, or one account from one address. */
  kind: 'address' | 'account';
  address: string;
  /** The account an 'account' block is for. */
  username: string | null;
  /** The usernames whose failures led to it (a tenant sees only its own). */
  usernames: string[];
  reason: string;
  since: string;
  until: string;
  /** The node holding it: blocks are kept per node. */
  node: string;
}
