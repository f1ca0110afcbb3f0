/**
 * Label values for SIP metrics. Methods and status codes arrive from strangers (and tenants'
 * dialplans choose the codes they answer with): only those SIP defines become labels, anything
 * else is `other` or its class (`4xx`), so nobody outside can add time series.
 */

/** The methods of RFC 3261 and its extensions (IANA "SIP Methods"). */
const METHODS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE']);

/** The response codes of the IANA "SIP Response Codes" registry. */
const CODES = new Set([
  100, 180, 181, 182, 183, 199, 200, 202, 204, 300, 301, 302, 305, 380, 400, 401, 402, 403, 404, 405, 406, 407, 408, 410, 412, 413, 414, 415, 416, 417, 420, 421, 422, 423, 424,
  425, 428, 429, 430, 433, 436, 437, 438, 439, 440, 469, 470, 480, 481, 482, 483, 484, 485, 486, 487, 488, 489, 491, 493, 494, 500, 501, 502, 503, 504, 505, 513, 555, 580, 600,
  603, 604, 606, 607, 608,
]);

export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : 'other';
}

export function statusClassLabel(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 699 ? `${Math.floor(status / 100)}xx` : 'other';
}

export function statusLabel(status: number): string {
  return CODES.has(status) ? String(status) : statusClassLabel(status);
}
