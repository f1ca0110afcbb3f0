/**
 * Bencode, the dictionary format of rtpengine's ng control protocol. Strings are byte strings on
 * the wire; they are read as UTF-8 text here because every ng value we use (SDP, tags, flags) is
 * text. Dictionary keys are written in the order given: rtpengine does not need them sorted.
 */

export type BencodeValue = string | number | BencodeValue[] | { [key: string]: BencodeValue };

export class BencodeError extends Error {}

export function bencode(value: BencodeValue): Buffer {
  const parts: Buffer[] = [];
  const put = (v: BencodeValue): void => {
    if (typeof v === 'string') {
      const b = Buffer.from(v, 'utf8');
      parts.push(Buffer.from(`${b.length}:`), b);
    } else if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new BencodeError(`bencode integers only, not ${v}`);
      parts.push(Buffer.from(`i${v}e`));
    } else if (Array.isArray(v)) {
      parts.push(Buffer.from('l'));
      for (const item of v) put(item);
      parts.push(Buffer.from('e'));
    } else {
      parts.push(Buffer.from('d'));
      for (const [k, item] of Object.entries(v)) {
        put(k);
        put(item);
      }
      parts.push(Buffer.from('e'));
    }
  };
  put(value);
  return Buffer.concat(parts);
}

const COLON = 0x3a;
const E = 0x65;

/** Decodes exactly one value filling `buf` from `start`; anything malformed or left over throws. */
export function bdecode(buf: Buffer, start = 0): BencodeValue {
  let pos = start;
  const fail = (why: string): never => {
    throw new BencodeError(`${why} at byte ${pos}`);
  };
  const digitsUntil = (stop: number): number => {
    const end = buf.indexOf(stop, pos);
    if (end < 0) fail('unterminated number');
    const text = buf.toString('latin1', pos, end);
    if (!/^-?\d+$/.test(text) || /^-?0\d/.test(text) || text === '-0') fail(`bad number "${text}"`);
    pos = end + 1;
    return Number(text);
  };
  const read = (depth: number): BencodeValue => {
    if (depth > 64) fail('nested too deeply');
    const c = buf[pos];
    if (c === undefined) return fail('unexpected end');
    if (c === 0x69 /* i */) {
      pos++;
      return digitsUntil(E);
    }
    if (c === 0x6c /* l */) {
      pos++;
      const list: BencodeValue[] = [];
      while (buf[pos] !== E) {
        if (pos >= buf.length) fail('unterminated list');
        list.push(read(depth + 1));
      }
      pos++;
      return list;
    }
    if (c === 0x64 /* d */) {
      pos++;
      const dict: Record<string, BencodeValue> = {};
      while (buf[pos] !== E) {
        if (pos >= buf.length) fail('unterminated dictionary');
        const key = read(depth + 1);
        if (typeof key !== 'string') fail('dictionary key is not a string');
        // Object.defineProperty keeps a key such as "__proto__" an ordinary own property.
        Object.defineProperty(dict, key as string, { value: read(depth + 1), enumerable: true, writable: true, configurable: true });
      }
      pos++;
      return dict;
    }
    if (c >= 0x30 && c <= 0x39) {
      const len = digitsUntil(COLON);
      if (pos + len > buf.length) fail('string runs past the end');
      const s = buf.toString('utf8', pos, pos + len);
      pos += len;
      return s;
    }
    return fail(`unexpected byte 0x${c.toString(16)}`);
  };
  const value = read(0);
  if (pos !== buf.length) fail('trailing bytes');
  return value;
}
