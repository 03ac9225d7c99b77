// Reads the ledger's HTTP API with the key the person entered, and turns every way a read can fail into one error
// a person can act on (docs/api.md, "Error catalogue").

/**
 * A read that failed: `kind` is 'unauthorized' (401), 'forbidden' (403), 'network' or 'failed' (anything else, with
 * the problem details the ledger sent, if any).
 */
export class LedgerError extends Error {
  constructor(kind, message, { status = null, correlationId = null, problem = null } = {}) {
    super(message);
    this.name = 'LedgerError';
    this.kind = kind;
    this.status = status;
    this.correlationId = correlationId;
    this.problem = problem;
  }
}

/** The answer of a read: its JSON body and which feed position the read model reflected (`X-Ledger-Position`). */
export class LedgerReply {
  constructor(body, headers) {
    this.body = body;
    this.position = numberHeader(headers, 'X-Ledger-Position');
    this.lagEvents = numberHeader(headers, 'X-Ledger-Lag-Events');
  }
}

/**
 * GETs `path` (relative to the page, so a service behind a path prefix works too) with the key as a Bearer token.
 * @param {string} key the API key
 * @param {string} path e.g. 'api/v1/whoami'
 * @param {AbortSignal} [signal]
 * @returns {Promise<LedgerReply>}
 */
export async function getJson(key, path, signal) {
  let response;
  try {
    response = await fetch(new URL(path, document.baseURI), {
      headers: { Authorization: `Bearer ${key}`, Accept: 'application/json' },
      cache: 'no-store',
      signal,
    });
  } catch (error) {
    if (error?.name === 'AbortError') throw error;
    throw new LedgerError('network',
      `Could not reach the ledger at ${location.origin}: check that the service is running and reachable, then press Refresh.`);
  }

  if (response.ok) return new LedgerReply(await response.json(), response.headers);

  const problem = await readProblem(response);
  const correlationId = problem?.correlationId ?? response.headers.get('X-Correlation-Id');
  const context = { status: response.status, correlationId, problem };
  switch (response.status) {
    case 401:
      throw new LedgerError('unauthorized',
        'The ledger did not accept this key: it is unknown, mistyped or revoked. Enter a valid key.', context);
    case 403:
      throw new LedgerError('forbidden',
        'This key may not read reports. Use a key with the reporting, auditor or admin role (line keys only record events).', context);
    default: {
      const what = problem?.title ?? response.statusText ?? 'The request failed.';
      const detail = problem?.detail ? ` ${problem.detail}` : '';
      throw new LedgerError('failed', `${what}${detail} (HTTP ${response.status} from ${path.split('?')[0]})`, context);
    }
  }
}

async function readProblem(response) {
  const type = response.headers.get('Content-Type') ?? '';
  if (!type.includes('json')) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

function numberHeader(headers, name) {
  const text = headers.get(name);
  return text === null ? null : Number(text);
}
