import fs from 'node:fs'
import { createRequire } from 'node:module'
import { pino, type DestinationStream, type Logger } from 'pino'
import { sayOnStderr } from './stderr.js'

export type { Logger } from 'pino'

export type LogFormat = 'auto' | 'pretty' | 'json'

/**
 * Values that must never reach a log line (the admin token, venue keys, webhook URLs). Paths
 * catch secrets under known keys; this set catches the same values wherever else they turn up:
 * in a message, an error text, a URL.
 */
export class Secrets {
  private readonly values = new Set<string>()
  add(value: string | undefined): void {
    // Short values would censor ordinary words; secrets worth the name are longer.
    if (value && value.length >= 8) this.values.add(value)
  }
  scrub(text: string): string {
    let out = text
    for (const v of this.values) if (out.includes(v)) out = out.split(v).join('[redacted]')
    return out
  }
  get size(): number {
    return this.values.size
  }
}

const SECRET_KEYS = ['token', 'adminToken', 'apiKey', 'secret', 'password', 'uid', 'authorization', 'Authorization', 'cookie', 'webhookUrl']

/** Where pino censors by key: the key itself, and one or two levels down. */
export const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  ...SECRET_KEYS.map((k) => `*.*.${k}`),
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'config.admin.token',
  'config.venues[*].apiKey',
  'config.venues[*].secret',
  'config.venues[*].password',
  'config.notify.webhooks[*].url',
  'config.notify.webhooks[*].headers',
]

export type LoggerOptions = {
  level?: string
  format?: LogFormat
  name?: string
  /** Default: stdout. A stream makes the logger JSON and synchronous (tests, embedders). */
  destination?: DestinationStream | NodeJS.WritableStream
  /** Without a destination, the file descriptor the lines go to: 1 (stdout) unless told. */
  fd?: number
  secrets?: Secrets
  /** Whether stdout is a terminal; `auto` pretty-prints when it is. */
  isTTY?: boolean
}

function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty')
    return true
  } catch {
    return false
  }
}

/**
 * A line-wise filter in front of the real destination: the last line of defence for secrets. A
 * destination that refuses a line (stdout on a full disk) costs that line, never the process: the
 * facts are in the event log, and a log call that threw would end trading, or a shutdown, midway.
 * The first loss is said once on stderr, and the count of lines lost in the log once it takes lines again.
 */
function scrubbing(dest: DestinationStream | NodeJS.WritableStream, secrets: Secrets): DestinationStream {
  let lost = 0
  const put = (line: string) => (dest as { write(s: string): unknown }).write(line)
  return {
    write(line: string) {
      const text = secrets.size ? secrets.scrub(line) : line
      try {
        if (lost > 0) {
          put(
            `${JSON.stringify({ level: 40, time: Date.now(), name: 'haltd', linesLost: lost, msg: `${lost} line(s) of this log could not be written and are lost` })}\n`,
          )
          lost = 0
        }
        put(text)
      } catch (e) {
        if (lost++ === 0)
          sayOnStderr(
            `the process log could not be written (${e instanceof Error ? e.message : String(e)}): its lines are lost until it can be; haltd runs on, and the event log holds every fact`,
          )
      }
    },
  }
}

/** How long a line waits for a pipe or socket that is full (its reader behind) before it is dropped. */
const FULL_PIPE_WAIT_MS = 1_000

/**
 * Lines written to `fd` at once, each whole or not at all as far as this process can see: a write
 * the descriptor refuses is thrown back and nothing of it is kept. pino's own destination keeps a
 * refused write to try again before the next line, so with a full disk it wrote a line the logger
 * had counted lost and took the next one in its place, and the count said more lines lost than were.
 * A pipe or socket whose reader is behind (EAGAIN: stdout is non-blocking once Node has touched
 * it) is waited for, up to a second a line; a line that waited that long is dropped, and the lines
 * after it are tried once each, without waiting, until one goes through: a reader that stopped
 * costs the process one second, not one a line.
 */
function lineWriter(fd: number): DestinationStream {
  /** A line cut short by a refused write: the next one starts on a line of its own. */
  let cut = false
  /** The reader did not take a line within the wait: no waiting until a line goes through. */
  let stalled = false
  const pause = new Int32Array(new SharedArrayBuffer(4))
  return {
    write(line: string) {
      let rest = Buffer.from(cut ? `\n${line}` : line)
      const since = performance.now()
      while (rest.length > 0) {
        let n: number
        try {
          // through the module object, so a test can fail the system call as a full disk does
          n = fs.writeSync(fd, rest)
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e
          if (stalled || performance.now() - since >= FULL_PIPE_WAIT_MS) {
            stalled = true
            throw e
          }
          Atomics.wait(pause, 0, 0, 5)
          continue
        }
        cut = n < rest.length
        rest = rest.subarray(n)
      }
      cut = false
      stalled = false
    },
  }
}

/**
 * The process logger: pretty on a terminal (pino-pretty, when installed), JSON lines otherwise.
 * Secrets are censored by key (pino redaction) and by value (`Secrets`) before a line is written.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const secrets = options.secrets ?? new Secrets()
  const format = options.format ?? 'auto'
  const tty = options.isTTY ?? process.stdout.isTTY === true
  const pretty = options.destination === undefined && (format === 'pretty' || (format === 'auto' && tty)) && prettyAvailable()
  const base = {
    name: options.name ?? 'haltd',
    level: options.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    hooks: {
      // Strings handed to a log call (the message and its interpolation values) are scrubbed too.
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
        if (secrets.size) {
          for (let i = 0; i < args.length; i++) {
            const a = args[i]
            if (typeof a === 'string') args[i] = secrets.scrub(a)
            else if (a instanceof Error) args[i] = scrubError(a, secrets)
          }
        }
        method.apply(this, args)
      },
    },
  }
  if (pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,name' } } })
  }
  const dest = options.destination ?? lineWriter(options.fd ?? 1)
  return pino(base, scrubbing(dest, secrets))
}

function scrubError(e: Error, secrets: Secrets): Error {
  const copy = new Error(secrets.scrub(e.message))
  copy.name = e.name
  if (e.stack) copy.stack = secrets.scrub(e.stack)
  return copy
}
