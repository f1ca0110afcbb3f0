/** The colours a state can take; every coloured state also says itself in words. */
export type Tone = 'good' | 'bad' | 'warn' | 'busy' | 'neutral';
