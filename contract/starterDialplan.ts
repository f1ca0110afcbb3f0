/**
 * What a new dialplan starts as: for `default`, the very routing a tenant without one gets (a
 * phone dialling a colleague's extension or user name rings that colleague), written out and
 * commented so that the first edit starts from something that works. The portal's editor opens
 * every new dialplan with it.
 */
export const STARTER_DIALPLAN = `// This dialplan decides every call your phones place (and calls from providers that name
// no other). It runs once per call; log() lines show in the call's record.
export default async function (call) {
  log(\`\${call.from.user} calls \${call.to.user}\`);

  // A colleague's extension (100, 101, …) or user name: ring that phone for 20 seconds.
  // If nobody answers, the switch tells the caller why (busy, not registered, no such phone).
  const r = await dial(call.to.user, { timeout: 20 });
  log(r.answered ? 'answered' : \`not answered: \${r.result}\`);

  // To reach the phone network, add a provider and send numbers to it, for example:
  //   if (/^0\\d+$/.test(call.to.user)) return dial(\`\${call.to.user}@myprovider\`);
}
`;
