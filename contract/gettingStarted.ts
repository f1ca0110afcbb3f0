/**
 * `GET /getting-started`: the first steps on the switch, each done or not as the tenant's data
 * says now (the dashboard's checklist follows it, so a step turns done the moment it is).
 */
export interface GettingStartedView {
  /** At least one phone exists; the first one, for the next step's link. */
  phone: { done: boolean; firstPhoneId: string | null };
  /** A device is registered for one of the phones. */
  registered: { done: boolean };
  /** A call was answered; the newest such record, to look at. */
  testCall: { done: boolean; recordId: string | null };
  provider: { done: boolean };
  /** The tenant saved a dialplan of its own: a new version of the `default` it got at sign-up, or another one. */
  dialplan: { done: boolean };
}
