/**
 * What a new dialplan starts as: for `default`, the very routing a tenant without one gets (a
 * phone dialling a colleague's extension or user name rings that colleague, and the tenant's own
 * phones may transfer to each other), written out and commented so that the first edit starts
 * from something that works. Every new tenant gets it stored as its `default` (version 1) at
 * sign-up, and the portal's editor opens every new dialplan with it.
 */
export const STARTER_DIALPLAN = `// This dialplan decides every call your phones place (and calls from providers that name
// no other). It runs once per call; log() lines show in the call's record.
export default async function (call) {
  log(\`\${call.from.user} calls \${call.to.user}\`);

  // A colleague's extension (100, 101, …) or user name: ring that phone for 20 seconds.
  // If nobody answers, the switch tells the caller why (busy, not registered, no such phone).
  // Once answered, your phones may transfer the call; where to is decided by this dialplan
  // again (run with call.transfer set), so a transfer reaches your phones only.
  const r = await dial(call.to.user, { timeout: 20, transfer: 'phones' });
  log(r.answered ? 'answered' : \`not answered: \${r.result}\`);

  // To reach the phone network, add a provider and send numbers to it, for example:
  //   if (/^0\\d+$/.test(call.to.user)) return dial(\`\${call.to.user}@myprovider\`);
}
`;
