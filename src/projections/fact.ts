import type { EventData, EventType } from '../events/index.js'

/**
 * What a projection reads from a stored event: its place in the log, its time and its payload.
 * A full `Envelope` is one; so is the leaner row replay builds without ids and hashes.
 */
export type Fact = {
  [T in EventType]: {
    seq: number
    ts: number
    type: T
    data: EventData<T>
    /** The schema version; readers lift stored events to the current one. */
    v?: number
    /** Why this stored event could not be read (see `readStored`): it is skipped and reported, not applied. */
    unreadable?: string | undefined
  }
}[EventType]
export type FactOf<T extends EventType> = Extract<Fact, { type: T }>

// Keys of the state's maps. The unit separator cannot appear in a printable venue or symbol, so
// two different pairs never share a key, and keys sort by venue first.
const SEP = '\u001f'
export const orderKey = (venue: string, clientOrderId: string): string => venue + SEP + clientOrderId
export const marketKey = (venue: string, symbol: string): string => venue + SEP + symbol
export const bookKey = (venue: string, symbol: string, strategy: string): string => venue + SEP + symbol + SEP + strategy
/** The venue part of a `marketKey`, `orderKey` or `bookKey`. */
export const venueOfKey = (key: string): string => key.slice(0, key.indexOf(SEP))
