/**
 * The dialplan API as the editor knows it: built (apiModelBuilder.ts) from its declaration file,
 * contract/dialplan-api.d.ts, bundled as text. The file is the one source of truth; completions
 * and warnings follow it when it changes.
 */
import declarations from '../../../contract/dialplan-api.d.ts?raw';
import { buildApiModel, type ApiModel } from './apiModelBuilder.ts';

export type { ApiEntry, ApiModel } from './apiModelBuilder.ts';

export const dialplanApi: ApiModel = buildApiModel(declarations);
