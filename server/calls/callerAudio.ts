/**
 * The dialplan's audio verbs for one call (server/audio/README.md, "What the call path must do"):
 * a MediaCallAudio on the caller's leg, whose answer is our 200 with the switch's SDP and whose
 * hangup is our BYE. Only where the switch carries the audio (not under direct media) and the
 * caller offered SDP in its INVITE (a late offer is not supported yet): otherwise the verbs refuse
 * with a message for the script.
 */
import path from 'node:path';
import { MediaCallAudio } from '../audio/mediaCallAudio.ts';
import type { RecordingStore } from '../recordings/recordingStore.ts';
import type { TenantScope } from '../store/index.ts';
import type { Call } from './call.ts';
import { profileOf } from './callMedia.ts';
import { bodyOf } from './dialog.ts';

/** Where the verbs keep their files, and how much a tenant may record. */
export interface CallerAudioSettings {
  dataDir: string;
  recordings: RecordingStore;
  recordingBytesPerTenant: number;
}

export function callerAudio(call: Call, scope: TenantScope, settings: CallerAudioSettings): MediaCallAudio | undefined {
  const offer = bodyOf(call.inviteTx.request);
  if (!call.media.relayed || !offer || !/^\s*application\/sdp\s*(;|$)/i.test(offer.type)) return undefined;
  return new MediaCallAudio({
    engine: call.services.media,
    callId: call.id,
    channelId: call.inbound.id,
    profile: profileOf(call.inbound),
    tenantId: call.tenantId,
    offer: offer.content,
    sendAnswer: async (sdp) => call.answerBySwitch(sdp),
    sendBye: async () => call.hangupBySwitch(),
    prompts: scope.prompts,
    recordings: scope.recordings,
    files: settings.recordings,
    cacheDir: path.join(settings.dataDir, 'audio-cache'),
    recordingBytesPerTenant: settings.recordingBytesPerTenant,
  });
}
