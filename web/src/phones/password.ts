/**
 * SIP passwords made in the browser (crypto.getRandomValues) and shown once: the switch keeps only
 * digests of them. Four groups of five from an alphabet without look-alikes (no 0/O, 1/l/I), so a
 * person can type one into a desk phone: about 113 bits.
 */
const ALPHABET = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

export function generateSipPassword(): string {
  const groups: string[] = [];
  // Rejection sampling keeps every character equally likely.
  const limit = 256 - (256 % ALPHABET.length);
  const out: string[] = [];
  while (out.length < 20) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    for (const b of bytes) if (b < limit && out.length < 20) out.push(ALPHABET[b % ALPHABET.length]!);
  }
  for (let i = 0; i < 20; i += 5) groups.push(out.slice(i, i + 5).join(''));
  return groups.join('-');
}

/**
 * A password just set, held in memory only until its page is left: it moves from the form that
 * created the account to the account's page, and is never written to storage.
 */
export const shownOnce = new Map<string, string>();
