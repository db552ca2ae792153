/**
 * Client order ids: the one format haltd generates, how it recognises its own, and what each
 * venue family accepts. Every family checked (see docs/CCXT-NOTES.md) accepts 1–32 letters and
 * digits, so that is what haltd generates (`hd` + run tag + base36 counter); ids from elsewhere
 * (an embedder's, an older haltd's `hd-<run>-<n>`) are checked against the venue's own rule
 * before they are sent.
 */

/** haltd tags every client order id it generates with this prefix, so `own` scope can tell its orders. */
export const HALTD_TAG = 'hd'

/** Letters of the run tag kept in an id: enough to keep runs apart, short enough for every venue. */
const RUN_TAG_LENGTH = 6

/** What one venue family accepts as a client order id. */
export type ClientIdRule = {
  /** The families it covers, as ccxt exchange ids, or `default`. */
  family: string
  /** The venue's own name for the field (`clOrdId`, `newClientOrderId`, …). */
  field: string
  maxLength: number
  pattern: RegExp
  /** The characters allowed, in words, for an error message. */
  charset: string
}

const ALNUM_32: Omit<ClientIdRule, 'family' | 'field'> = { maxLength: 32, pattern: /^[A-Za-z0-9]+$/, charset: 'letters and digits' }

/**
 * Known families by ccxt exchange id. Unknown venues get `default`: printable ASCII up to 36,
 * which is no promise the venue takes it; haltd's own ids fit every rule here.
 */
const RULES: readonly ClientIdRule[] = [
  { family: 'okx', field: 'clOrdId', ...ALNUM_32 },
  { family: 'binance', field: 'newClientOrderId', maxLength: 36, pattern: /^[.A-Z:/a-z0-9_-]+$/, charset: 'letters, digits and . : / _ -' },
  { family: 'bybit', field: 'orderLinkId', maxLength: 36, pattern: /^[A-Za-z0-9_-]+$/, charset: 'letters, digits, - and _' },
  // Kraken spot: `cl_ord_id` as free text (its numeric `userref` is not used for haltd's ids)
  { family: 'kraken', field: 'cl_ord_id', maxLength: 18, pattern: /^[A-Za-z0-9_-]+$/, charset: 'letters, digits, - and _' },
  { family: 'krakenfutures', field: 'cliOrdId', maxLength: 100, pattern: /^[A-Za-z0-9_-]+$/, charset: 'letters, digits, - and _' },
]

const FAMILY_OF: Readonly<Record<string, string>> = {
  okx: 'okx',
  okxus: 'okx',
  myokx: 'okx',
  binance: 'binance',
  binanceusdm: 'binance',
  binancecoinm: 'binance',
  binanceus: 'binance',
  bybit: 'bybit',
  kraken: 'kraken',
  krakenfutures: 'krakenfutures',
}

const DEFAULT_RULE: ClientIdRule = { family: 'default', field: 'clientOrderId', maxLength: 36, pattern: /^[\x21-\x7e]+$/, charset: 'printable ASCII' }

/** The rule of the venue family a ccxt exchange id belongs to. */
export function clientIdRuleFor(exchangeId: string): ClientIdRule {
  const family = FAMILY_OF[exchangeId]
  return RULES.find((r) => r.family === family) ?? DEFAULT_RULE
}

/** Why the venue would refuse this id, naming its rule; undefined when it fits. */
export function clientIdProblem(rule: ClientIdRule, clientOrderId: string): string | undefined {
  if (clientOrderId.length === 0) return `an empty client order id (${rule.family} ${rule.field}: 1–${rule.maxLength} of ${rule.charset})`
  if (clientOrderId.length > rule.maxLength || !rule.pattern.test(clientOrderId)) {
    return `client order id '${clientOrderId}' does not fit ${rule.family} ${rule.field}: 1–${rule.maxLength} of ${rule.charset}`
  }
  return undefined
}

/** The run tag as it goes into ids: lowercase letters and digits, exactly six (the tail of the tag, `0`-padded). */
export function idRunTag(runTag: string): string {
  const clean = runTag.toLowerCase().replace(/[^0-9a-z]/g, '')
  return clean.slice(-RUN_TAG_LENGTH).padStart(RUN_TAG_LENGTH, '0')
}

/** haltd's id for the `seq`-th order of a run: `hd` + six-letter run tag + base36 counter, letters and digits only. */
export function makeClientOrderId(runTag: string, seq: number, tag: string = HALTD_TAG): string {
  if (!(Number.isSafeInteger(seq) && seq > 0)) throw new RangeError(`a client order id counter must be a positive whole number, got ${seq}`)
  return `${tag}${idRunTag(runTag)}${seq.toString(36)}`
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const ownPatterns = new Map<string, RegExp>()

/**
 * Whether haltd made this id: the tag, then seven or more lowercase letters or digits (the run
 * tag's six and the counter) and nothing else; or, as older haltd versions wrote them, the tag and a dash (`hd-…`).
 */
export function isOwnOrderId(clientOrderId: string | undefined, tag: string = HALTD_TAG): boolean {
  if (!clientOrderId?.startsWith(tag)) return false
  if (clientOrderId.startsWith(`${tag}-`)) return true
  let own = ownPatterns.get(tag)
  if (!own) {
    own = new RegExp(`^${escapeRegExp(tag)}[0-9a-z]{${RUN_TAG_LENGTH + 1},}$`)
    ownPatterns.set(tag, own)
  }
  return own.test(clientOrderId)
}
