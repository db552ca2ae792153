import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'

/**
 * HTTP and WebSocket spoken byte by byte over `node:net`, for what a well-behaved client never
 * sends: request targets the URL parser rejects, wrong Host headers, bodies cut short, frames
 * with reserved bits.
 */

export type RawAnswer = {
  /** Everything the server sent. */
  text: string
  /** The status of the first response, if one came. */
  status: number | undefined
  /** Every status line seen (a pipelined request can get several). */
  statuses: number[]
  /** The server closed (or reset) the connection. */
  closed: boolean
}

export const statusesOf = (text: string): number[] => [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]))

export function openRaw(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket))
    socket.once('error', reject)
  })
}

/**
 * Sends `bytes`, then collects what comes back until the server closes the connection or
 * `waitMs` passes with the connection still open (a partial request the server waits on).
 */
export async function exchange(port: number, bytes: Buffer | string, waitMs = 2_000): Promise<RawAnswer> {
  const socket = await openRaw(port)
  const chunks: Buffer[] = []
  return new Promise((resolve) => {
    let done = false
    const finish = (closed: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      const text = Buffer.concat(chunks).toString('latin1')
      const statuses = statusesOf(text)
      resolve({ text, status: statuses[0], statuses, closed })
    }
    const timer = setTimeout(() => finish(false), waitMs)
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', () => finish(true))
    socket.on('close', () => finish(true))
    socket.write(bytes)
  })
}

/** A request as text: `Content-Length` is added for a body unless a header names a length or a coding. */
export function request(method: string, target: string, headers: Record<string, string> = {}, body = ''): string {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`)
  const named = Object.keys(headers).map((k) => k.toLowerCase())
  if (body !== '' && !named.includes('content-length') && !named.includes('transfer-encoding')) lines.push(`content-length: ${Buffer.byteLength(body)}`)
  return `${method} ${target} HTTP/1.1\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n${body}`
}

export function upgradeRequest(target: string, headers: Record<string, string>): string {
  return request('GET', target, {
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-version': '13',
    'sec-websocket-key': randomBytes(16).toString('base64'),
    ...headers,
  })
}

/** One WebSocket frame as a client sends it (masked unless told otherwise). */
export function wsFrame(options: { payload: Buffer; opcode?: number; fin?: boolean; rsv?: number; mask?: boolean; declaredLength?: number }): Buffer {
  const { payload, opcode = 0x1, fin = true, rsv = 0, mask = true } = options
  const length = options.declaredLength ?? payload.length
  const head: number[] = [(fin ? 0x80 : 0) | ((rsv & 0x7) << 4) | (opcode & 0xf)]
  const m = mask ? 0x80 : 0
  if (length < 126) head.push(m | length)
  else if (length < 65_536) head.push(m | 126, length >> 8, length & 0xff)
  else {
    head.push(m | 127)
    const b = Buffer.alloc(8)
    b.writeBigUInt64BE(BigInt(length))
    head.push(...b)
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload])
  const key = randomBytes(4)
  const masked = Buffer.from(payload.map((byte, i) => byte ^ (key[i % 4] ?? 0)))
  return Buffer.concat([Buffer.from(head), key, masked])
}

/** The close frames a server sent after the 101: their codes. */
export function closeCodesOf(bytes: Buffer): number[] {
  const codes: number[] = []
  let i = 0
  while (i + 2 <= bytes.length) {
    const opcode = (bytes[i] ?? 0) & 0xf
    let len = (bytes[i + 1] ?? 0) & 0x7f
    let at = i + 2
    if (len === 126) {
      len = bytes.readUInt16BE(at)
      at += 2
    } else if (len === 127) {
      len = Number(bytes.readBigUInt64BE(at))
      at += 8
    }
    if (opcode === 0x8 && len >= 2 && at + 2 <= bytes.length) codes.push(bytes.readUInt16BE(at))
    i = at + len
  }
  return codes
}

export type RawSocket = { socket: Socket; status: number | undefined; afterHead: () => Buffer; closed: Promise<void> }

/** Opens a WebSocket by hand: the upgrade request, then the server's head; frames are written to `socket`. */
export async function rawUpgrade(port: number, target: string, headers: Record<string, string>): Promise<RawSocket> {
  const socket = await openRaw(port)
  const chunks: Buffer[] = []
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  socket.on('error', () => {})
  socket.on('data', (c: Buffer) => chunks.push(c))
  socket.write(upgradeRequest(target, headers))
  const all = () => Buffer.concat(chunks)
  const end = await new Promise<number>((resolve) => {
    const check = () => {
      const at = all().indexOf('\r\n\r\n')
      if (at !== -1) return resolve(at + 4)
      if (socket.destroyed) return resolve(-1)
      setTimeout(check, 5)
    }
    check()
  })
  const head = end === -1 ? all().toString('latin1') : all().subarray(0, end).toString('latin1')
  return { socket, status: statusesOf(head)[0], afterHead: () => (end === -1 ? Buffer.alloc(0) : all().subarray(end)), closed }
}

/**
 * Writes `piece` over and over, as fast as the connection takes it, until `total` bytes are
 * sent or the server closes the connection; returns how many bytes the socket accepted.
 */
export async function pour(socket: Socket, piece: Buffer | string, total: number): Promise<number> {
  let open = !socket.destroyed
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      open = false
      resolve()
    })
  })
  const size = Buffer.byteLength(piece)
  let sent = 0
  while (open && sent < total) {
    const ok = socket.write(piece)
    sent += size
    if (!ok) {
      await new Promise<void>((resolve) => {
        socket.once('drain', resolve)
        void closed.then(resolve)
      })
    }
  }
  await closed
  return sent
}
