/**
 * The SDP answer of the switch itself, when it answers a phone (a dialplan's `answer()`): G.711 in
 * the phone's preferred law, and telephone-event when offered, so menus can read RFC 4733 digits.
 * Every media section of the offer gets one line back (RFC 3264); all but the audio one refused.
 */
import type { G711Codec } from './audio/g711.ts';
import { MediaRequestError } from './engine.ts';
import { audioSection, parseSdp, type MediaSection } from './sdp.ts';

export interface EndpointCodec {
  codec: G711Codec;
  /** The payload type the phone uses for it (0 or 8, or a dynamic one it mapped). */
  payloadType: number;
  telephoneEvent?: { payloadType: number; clockRate: number };
}

/** The first G.711 law the offer lists, and its telephone-event at 8 kHz. */
export function chooseEndpointCodec(section: MediaSection): EndpointCodec {
  let chosen: EndpointCodec | undefined;
  let telephoneEvent: EndpointCodec['telephoneEvent'];
  for (const f of section.formats) {
    const pt = Number(f);
    const map = section.rtpmap.get(pt);
    if (!map) continue;
    const encoding = map.encoding.toUpperCase();
    if (!chosen && (encoding === 'PCMU' || encoding === 'PCMA') && map.clockRate === 8000) chosen = { codec: encoding, payloadType: pt };
    if (!telephoneEvent && encoding === 'TELEPHONE-EVENT' && map.clockRate === 8000) telephoneEvent = { payloadType: pt, clockRate: map.clockRate };
  }
  if (!chosen) throw new MediaRequestError('the offer has neither PCMU nor PCMA: the switch answers calls in G.711 only');
  return telephoneEvent ? { ...chosen, telephoneEvent } : chosen;
}

/** The offer's audio section and the codec the switch answers it with. */
export function readEndpointOffer(sdp: string): { index: number; section: MediaSection; codec: EndpointCodec; sections: MediaSection[] } {
  const parsed = parseSdp(sdp);
  const audio = audioSection(parsed);
  if (!audio) throw new MediaRequestError('the offer has no audio stream to answer');
  return { ...audio, codec: chooseEndpointCodec(audio.section), sections: parsed.media };
}

export function endpointAnswerSdp(opts: { address: string; port: number; codec: EndpointCodec; sections: MediaSection[]; audioIndex: number; sessionId: number }): string {
  const { codec, address } = opts;
  const out = ['v=0', `o=sipswitch ${opts.sessionId} 1 IN IP4 ${address}`, 's=sipswitch', `c=IN IP4 ${address}`, 't=0 0'];
  for (const [i, m] of opts.sections.entries()) {
    if (i !== opts.audioIndex) {
      out.push(`m=${m.type} 0 ${m.proto} ${m.formats.join(' ')}`);
      continue;
    }
    const te = codec.telephoneEvent;
    out.push(`m=audio ${opts.port} RTP/AVP ${codec.payloadType}${te ? ` ${te.payloadType}` : ''}`);
    out.push(`a=rtpmap:${codec.payloadType} ${codec.codec}/8000`);
    if (te) out.push(`a=rtpmap:${te.payloadType} telephone-event/8000`, `a=fmtp:${te.payloadType} 0-16`);
    out.push('a=ptime:20', 'a=sendrecv');
  }
  return `${out.join('\r\n')}\r\n`;
}
