/**
 * `/prompts`: a tenant's prompts, uploaded as the raw request body (WAV or MP3, converted on
 * arrival to what the engines play), and `/tones`, the built-in ones. Bad audio is a 400 whose
 * message says what is wrong with the file; the 201st prompt is a 409.
 */
import express, { Router, type Response } from 'express';
import { z } from 'zod';
import { PROMPT_NAME } from '../../contract/audio.ts';
import { MAX_PROMPT_BYTES, PromptFormatError } from '../media/prompts.ts';
import { convertPromptOffThread, PromptConversionBusy } from '../media/promptThread.ts';
import { isToneName, TONE_NAMES, toneAudio } from '../media/tones.ts';
import { PromptQuotaError } from '../store/prompts.ts';
import { HttpError, notFound, parse } from './errors.ts';
import { promptView, toneView } from './audioViews.ts';
import { scopeOf } from './session.ts';

/** What a dialplan writes in `play('…')`: no spaces, no path, not a tone's name. */
export const promptName = z
  .string()
  .regex(PROMPT_NAME, 'a prompt name is 1–64 letters, digits, dots, dashes or underscores, starting with a letter or digit')
  .refine((n) => !isToneName(n), 'that is the name of a built-in tone');
const params = z.strictObject({ name: promptName });

function sendWav(res: Response, wav: Buffer): void {
  res.set({ 'Content-Type': 'audio/wav', 'Cache-Control': 'private, no-store' });
  res.send(wav);
}

export function promptRoutes(): Router {
  const r = Router();

  r.get('/prompts', async (req, res) => {
    res.json({ items: (await scopeOf(req).prompts.list()).map(promptView) });
  });

  r.put('/prompts/:name', express.raw({ type: () => true, limit: MAX_PROMPT_BYTES }), async (req, res) => {
    const { name } = parse(params, req.params);
    if (!Buffer.isBuffer(req.body) || req.body.length === 0) throw new HttpError(400, 'send the audio file (WAV or MP3) as the request body, e.g. Content-Type: audio/wav');
    let converted;
    try {
      converted = await convertPromptOffThread(req.body);
    } catch (err) {
      if (err instanceof PromptFormatError) throw new HttpError(400, `${name}: ${err.message}`);
      if (err instanceof PromptConversionBusy) throw new HttpError(503, err.message);
      throw err;
    }
    try {
      const { created, prompt } = await scopeOf(req).prompts.put(name, converted);
      res.status(created ? 201 : 200).json(promptView(prompt));
    } catch (err) {
      if (err instanceof PromptQuotaError) throw new HttpError(409, err.message);
      throw err;
    }
  });

  r.get('/prompts/:name', async (req, res) => {
    const { name } = parse(params, req.params);
    const prompt = await scopeOf(req).prompts.info(name);
    if (!prompt) throw notFound('prompt');
    res.json(promptView(prompt));
  });

  r.get('/prompts/:name/audio', async (req, res) => {
    const { name } = parse(params, req.params);
    const wav = await scopeOf(req).prompts.audio(name);
    if (!wav) throw notFound('prompt');
    sendWav(res, wav);
  });

  r.delete('/prompts/:name', async (req, res) => {
    const { name } = parse(params, req.params);
    if (!(await scopeOf(req).prompts.delete(name))) throw notFound('prompt');
    res.status(204).end();
  });

  r.get('/tones', (_req, res) => {
    res.json({ items: TONE_NAMES.map(toneView) });
  });

  r.get('/tones/:name/audio', (req, res) => {
    const name = req.params.name;
    if (!isToneName(name)) throw notFound('tone');
    sendWav(res, toneAudio(name).wav);
  });

  return r;
}
