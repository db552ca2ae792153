import { z } from 'zod'

/**
 * Text as the log stores it. SQLite keeps text as UTF-8, where a lone UTF-16 surrogate (half of
 * a pair, e.g. from a venue message cut in the middle of an emoji) has no encoding: it would be
 * stored as U+FFFD while the hash had covered the surrogate, and `verify` would then report a
 * log nobody touched as tampered with. So no lone surrogate reaches the log:
 *
 * - identifiers (order and trade ids, venues, symbols, strategy ids, and the envelope's stream,
 *   causation and correlation ids and idempotency key) are refused: replacing a character
 *   could make two distinct ids one, and merge their streams or idempotency keys;
 * - free text (reasons, error messages, names, and every string in free-form records) is made
 *   well-formed: each lone surrogate becomes U+FFFD, the character UTF-8 would store anyway,
 *   so a venue's garbled message is kept, legibly, and the fact it came with is not lost.
 */

// With the `u` flag a well-formed pair is one code point, so only lone halves match.
const LONE_SURROGATE = /\p{Cs}/u
const LONE_SURROGATES = /\p{Cs}/gu

export const LONE_SURROGATE_MESSAGE = 'must not contain a lone UTF-16 surrogate (it cannot be stored as UTF-8)'

export function hasLoneSurrogate(s: string): boolean {
  return LONE_SURROGATE.test(s)
}

/** `s` with each lone surrogate replaced by U+FFFD; `s` itself when it has none. */
export function wellFormed(s: string): string {
  return LONE_SURROGATE.test(s) ? s.replace(LONE_SURROGATES, '\ufffd') : s
}

/** An identifier: a string with no lone surrogate. */
export function idString(): z.ZodString {
  return z.string().refine((s) => !LONE_SURROGATE.test(s), LONE_SURROGATE_MESSAGE)
}

/** Free text: a string whose lone surrogates are stored as U+FFFD. */
export function freeText(): z.ZodString {
  return z.string().overwrite(wellFormed)
}

/**
 * Characters a reader's screen acts on rather than shows: C0 and C1 controls (line breaks, tabs,
 * escapes) and the marks that reorder text shown right to left. Text a person writes for others
 * to read (an operator's reason) holds none; text printed from outside shows them escaped.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it is there to find
export const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/
