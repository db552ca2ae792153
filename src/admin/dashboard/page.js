// The haltd dashboard: plain DOM over one WebSocket (/ui/feed). The session cookie is HttpOnly;
// this script never sees a token after the login form hands it to POST /session.

const $ = (id) => document.getElementById(id)
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])
const num = (v, digits = 2) => (typeof v === 'number' && Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits }) : '–')
const money = (v) => (typeof v === 'number' ? v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : '–')
const clock = (ms) => {
  if (typeof ms !== 'number') return '–'
  if (ms < 60_000) return `${(Math.max(0, ms) / 1000).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)} min ${s % 60} s`
}
const time = (ts) => (ts ? new Date(ts).toISOString().slice(11, 23) : '–')

/** Every action the page offers: the path it posts to, the body besides the reason, what it does. */
const ACTIONS = [
  {
    id: 'graceful',
    label: 'Graceful stop',
    path: '/shutdown',
    body: { mode: 'graceful' },
    danger: true,
    what: 'Starts the graceful shutdown: cancel, flatten, reconcile, stop.',
  },
  {
    id: 'emergency',
    label: 'Emergency stop',
    path: '/shutdown',
    body: { mode: 'emergency' },
    danger: true,
    what: 'Halts, latches the kill switch and cancels everything now.',
  },
  {
    id: 'killswitch-activate',
    label: 'Kill switch: activate',
    path: '/killswitch/activate',
    choice: { name: 'action', options: ['HALTED', 'REDUCING', 'EMERGENCY'] },
    danger: true,
    what: 'Latches the kill switch; it survives restarts until an admin resets it.',
  },
  { id: 'killswitch-reset', label: 'Kill switch: reset', path: '/killswitch/reset', what: 'Unlatches the kill switch: trading may start again.' },
  { id: 'pause', label: 'Pause', path: '/pause', what: 'Disables the strategies and cancels their orders; positions stay.' },
  { id: 'resume', label: 'Resume', path: '/resume', what: 'Enables the strategies again.' },
  { id: 'drain-start', label: 'Drain: start', path: '/drain/start', what: 'No new orders; the ones in flight complete.' },
  { id: 'drain-cancel', label: 'Drain: cancel', path: '/drain/cancel', what: 'Ends the drain: orders may be sent again.' },
  // shown only where the daemon says a standby or a fleet is configured
  {
    id: 'handover',
    label: 'Hand over to the standby',
    path: '/handover',
    control: 'handover',
    to: true,
    danger: true,
    what: 'Closes the gate, waits for orders in flight, flushes the stream and offers the lease to the standby named; rolls back if it is not taken in time.',
  },
  {
    id: 'fleet-killswitch-activate',
    label: 'Fleet kill switch: activate',
    path: '/fleet/killswitch/activate',
    control: 'fleet',
    panel: 'fleet',
    choice: { name: 'action', options: ['HALTED', 'EMERGENCY'] },
    engines: true,
    danger: true,
    what: 'Latches the kill switch of every engine named: each halts (EMERGENCY: runs its emergency procedure) and stays halted until the fleet switch is reset.',
  },
  {
    id: 'fleet-killswitch-reset',
    label: 'Fleet kill switch: reset',
    path: '/fleet/killswitch/reset',
    control: 'fleet',
    panel: 'fleet',
    what: 'Resets the fleet kill switch: the engines it halted may trade again (a local latch stays).',
  },
]

let me
/** Whether haltd can be reached now: an action sent to a daemon that stopped or went away reaches nothing. */
let reachable = false

let socket
let latest
let pending = false
let stopped = false
let retryMs = 500
/** When the last frame came, and how often one comes at the least: past three of those the view is stale. */
let lastFrameAt = 0
let heartbeatMs = 1_000
/** The largest open-order count seen in this shutdown: the bar counts down from it. */
let peakOrders = 0

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  let parsed = null
  try {
    parsed = await res.json()
  } catch {
    parsed = null
  }
  return { status: res.status, body: parsed }
}

// ── logging in and out ───────────────────────────────────────────────────────────────────────

async function start() {
  const r = await api('GET', '/session')
  if (r.status === 200) enter(r.body)
  else showLogin()
}

function showLogin() {
  $('login').hidden = false
  $('app').hidden = true
  $('logout').hidden = true
  $('me').textContent = ''
  $('token').focus()
}

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const input = $('token')
  const r = await api('POST', '/session', { token: input.value })
  input.value = ''
  if (r.status !== 200) {
    $('login-error').textContent = r.body?.error?.message ?? `refused (${r.status})`
    return
  }
  $('login-error').textContent = ''
  enter(r.body)
})

$('logout').addEventListener('click', async () => {
  await api('POST', '/session/logout')
  stopped = true
  socket?.close()
  location.reload()
})

function enter(who) {
  me = who
  $('login').hidden = true
  $('app').hidden = false
  $('logout').hidden = false
  $('me').textContent = `${who.name} (${who.role})`
  renderButtons()
  connect()
}

// ── the feed ────────────────────────────────────────────────────────────────────────────────

function connect() {
  socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ui/feed`)
  socket.addEventListener('open', () => {
    retryMs = 500
    $('link').textContent = 'live'
    reachable = true
    renderButtons()
  })
  socket.addEventListener('message', (m) => {
    const frame = JSON.parse(m.data)
    lastFrameAt = Date.now()
    if (typeof frame.heartbeatMs === 'number') heartbeatMs = frame.heartbeatMs
    if (document.body.classList.contains('stale')) {
      document.body.classList.remove('stale')
      $('link').textContent = 'live'
    }
    if (frame.kind === 'error') {
      $('link').textContent = `feed error: ${frame.message}`
      return
    }
    latest = frame
    // one render per animation frame, however many frames arrived
    if (!pending) {
      pending = true
      requestAnimationFrame(() => {
        pending = false
        render(latest)
      })
    }
  })
  socket.addEventListener('close', (e) => {
    reachable = false
    renderButtons()
    if (e.code === 4401 && !stopped) {
      // the session ended (logged out elsewhere, its maximum age): haltd itself is fine
      showLogin()
      $('login-error').textContent = e.reason || 'the session has ended: log in again'
      return
    }
    const done = latest?.view?.state === 'stopped' || latest?.view?.report
    if (done) {
      $('link').textContent = 'haltd has stopped'
    } else {
      // a daemon that died says nothing more: what the page shows is what it last knew, not now
      document.body.classList.add('stale')
      const since = lastFrameAt ? `; no word from haltd since ${time(lastFrameAt)}, what is shown may be out of date` : ''
      $('link').textContent = `disconnected${e.reason ? `: ${e.reason}` : ''}${since}`
    }
    if (stopped) return
    // the daemon went away, stopped or restarted: look for it again, less and less often
    setTimeout(() => api('GET', '/session').then((r) => (r.status === 200 ? connect() : restarted()), connect), retryMs)
    retryMs = Math.min(retryMs * 2, 30_000)
  })
}

/** A daemon answers again without this page's session: it is another run, which needs a login. */
function restarted() {
  showLogin()
  $('login-error').textContent = 'haltd answers again, without this session (it restarted, or the session ended): log in to see it'
}

// A daemon that is frozen (SIGSTOP, a stall) keeps its socket open and sends nothing: the page
// says its view is old rather than show it as current.
setInterval(() => {
  if (!socket || socket.readyState !== WebSocket.OPEN || lastFrameAt === 0) return
  const silentMs = Date.now() - lastFrameAt
  if (silentMs <= Math.max(3 * heartbeatMs, 3_000)) return
  document.body.classList.add('stale')
  $('link').textContent = `stale: no word from haltd for ${clock(silentMs)}; what is shown may be out of date`
}, 1_000)

// ── rendering ───────────────────────────────────────────────────────────────────────────────

function badge(el, text, tone) {
  el.textContent = text
  el.className = `badge ${tone ?? ''}`
}

function table(headers, rows) {
  const head = `<tr>${headers.map(([h, cls]) => `<th class="${cls ?? ''}">${esc(h)}</th>`).join('')}</tr>`
  return head + (rows.length ? rows.join('') : `<tr><td colspan="${headers.length}" class="muted">none</td></tr>`)
}

function facts(pairs) {
  return pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')
}

function bars(root) {
  // CSP allows no style attributes in markup: the widths are set here
  for (const el of root.querySelectorAll('[data-pct]')) el.style.width = `${Math.max(0, Math.min(100, Number(el.dataset.pct)))}%`
}

function render(frame) {
  const v = frame.view
  const shuttingDown = v.shutdown && !v.shutdown.completed
  const state = v.report ? 'STOPPED' : shuttingDown ? 'SHUTTING DOWN' : String(v.state).toUpperCase()
  badge($('state'), state, state === 'RUNNING' ? 'ok' : state === 'STOPPED' ? 'bad' : 'warn')
  badge($('mode'), v.mode, v.mode === 'ACTIVE' ? 'ok' : v.mode === 'REDUCING' ? 'warn' : 'bad')
  badge($('killswitch'), v.killSwitch.latched ? `KILL SWITCH ${v.killSwitch.action ?? ''}` : 'kill switch off', v.killSwitch.latched ? 'bad' : '')

  $('summary').innerHTML = facts([
    // the report is the last word of a run that has ended, whatever the last status said
    ['state', esc(v.report ? 'stopped' : v.state)],
    ['mode', esc(v.mode)],
    ['gate', v.gate.halted ? `closed${v.gate.reason ? `: ${esc(v.gate.reason)}` : ''}` : 'open'],
    [
      'kill switch',
      v.killSwitch.latched
        ? `latched (${esc(v.killSwitch.action)}): ${esc(v.killSwitch.reason)}${v.killSwitch.by ? `, by ${esc(v.killSwitch.by)}` : ''}`
        : 'not latched',
    ],
    ['paused', v.paused ? 'yes' : 'no'],
    ['drain', esc(v.drain)],
    ['deployments', v.deploymentsLocked ? 'locked' : 'unlocked'],
    ['open orders', `<span data-testid="open-orders">${num(v.openOrders, 0)}</span>`],
    ['reconciliation', esc(v.reconciliation)],
    ['uptime', clock(v.uptimeMs)],
    ['log seq', num(v.seq, 0)],
  ])
  $('pnl').innerHTML = facts([
    ['realized', money(v.pnl.realized)],
    ['unrealized', `${money(v.pnl.unrealized)}${v.pnl.unpriced ? ` <b class="error">not counting ${num(v.pnl.unpriced, 0)} UNPRICED position(s)</b>` : ''}`],
    ['fees', money(v.pnl.fees)],
    ['equity', money(v.pnl.equity)],
    ['drawdown', money(v.pnl.drawdown)],
  ])
  $('venues').innerHTML = table(
    [['venue'], ['connected'], ['round trip', 'num'], ['open orders', 'num'], ['positions', 'num'], ['reconciliation'], ['last error']],
    v.venues.map(
      (x) =>
        `<tr><td>${esc(x.venue)}</td><td>${x.connected ? 'yes' : '<b class="error">no</b>'}</td><td class="num">${x.latencyMs === undefined ? '–' : `${num(x.latencyMs, 0)} ms`}</td><td class="num">${num(x.openOrders, 0)}</td><td class="num">${num(x.positions, 0)}</td><td>${esc(x.reconciliation)}</td><td class="muted">${esc(x.lastError ?? '')}</td></tr>`,
    ),
  )
  $('strategies').innerHTML = table(
    [['strategy'], ['enabled'], ['why not']],
    // enabled is the strategy's own switch: with the gate closed, nothing it asks for is sent, and the page says so
    v.strategies.map(
      (s) =>
        `<tr><td>${esc(s.id)}</td><td data-testid="strategy-enabled">${s.enabled ? (v.gate.halted ? 'yes, gate closed: sends nothing' : 'yes') : 'no'}</td><td class="muted">${esc(s.reason ?? '')}</td></tr>`,
    ),
  )
  $('risk').innerHTML = table(
    [['trigger'], ['reading', 'num'], ['threshold', 'num'], ['action']],
    v.risk.map(
      (r) =>
        `<tr title="${esc(r.detail)}"><td>${esc(r.trigger)}</td><td class="num">${num(r.reading)}</td><td class="num">${num(r.threshold)}</td><td>${esc(r.action)}</td></tr>`,
    ),
  )
  $('positions').innerHTML = table(
    [['venue'], ['symbol'], ['qty', 'num'], ['avg entry', 'num'], ['unrealized', 'num']],
    v.positions.map(
      (p) =>
        `<tr><td>${esc(p.venue)}</td><td>${esc(p.symbol)}</td><td class="num">${num(p.qty, 6)}</td><td class="num">${num(p.avgEntry)}</td><td class="num">${p.unpriced ? '<b class="error">UNPRICED</b>' : money(p.unrealized)}</td></tr>`,
    ),
  )
  const line = (e) => `<li title="${esc(e.text)}">${time(e.ts)} <span class="type">${esc(e.type)}</span> ${esc(e.text)}</li>`
  $('recent-actions').innerHTML = frame.actions.slice().reverse().map(line).join('')
  $('events').innerHTML = frame.events.slice().reverse().map(line).join('')

  renderShutdown(v)
  renderReport(v)
  renderStandby(v.standby)
  renderHandover(v.handover)
  renderFleet(v.fleet)
  renderButtons()
}

/** On a standby: whom it follows, how far behind, and that the page only watches. */
function renderStandby(s) {
  const el = $('standby')
  el.hidden = !s
  if (!s) return
  const leader = s.leader ? `the leader is ${esc(s.leader.instance)} (epoch ${esc(s.leader.epoch)})` : 'no instance holds the lease now'
  el.innerHTML = `
    <div class="banner" data-testid="standby-banner">STANDBY: ${esc(s.instance)} follows engine ${esc(s.engine)}; ${leader}</div>
    <div class="muted" data-testid="standby-detail">${s.following ? 'following the stream' : '<b class="error">not following the stream</b>'} · followed to seq ${num(s.followedSeq, 0)} · ${num(s.lagEvents, 0)} event(s) behind · read-only: act on the leader${s.refused ? ` · <span class="error">${esc(s.refused)}</span>` : ''}</div>${
      s.engineStopped
        ? `
    <div class="muted" data-testid="standby-stopped">${esc(s.engineStopped)}</div>`
        : ''
    }`
}

/** The latest handover as a timeline: the leader's steps, then the new leader's, each against its budget. */
function renderHandover(h) {
  const el = $('handover')
  el.hidden = !h
  if (!h) return
  const steps = h.steps
    .map((s, n) => {
      const icon = { completed: '✔', running: '▶', failed: '✖' }[s.status] ?? '·'
      const took = s.startedAt && s.endedAt ? clock(s.endedAt - s.startedAt) : s.startedAt ? `since ${time(s.startedAt)}` : ''
      const budget = s.budgetMs ? `budget ${clock(s.budgetMs)}` : ''
      return `<li class="${esc(s.status.replace(' ', '-'))}" data-testid="handover-step-${esc(s.step)}" data-status="${esc(s.status)}"><span class="icon">${icon}</span><span>${n + 1}</span><span>${esc(s.step)}${s.detail ? ` <span class="${s.status === 'failed' ? 'error' : 'muted'}">${esc(s.detail)}</span>` : ''}</span><span>${esc(took)}</span><span class="muted">${esc(budget)}</span></li>`
    })
    .join('')
  const state = h.outcome === 'handed-over' ? 'HANDED OVER' : h.outcome === 'rolled-back' ? 'HANDOVER ROLLED BACK' : 'HANDOVER IN PROGRESS'
  const end = h.completedAt ?? Date.now()
  el.innerHTML = `
    <div class="banner" data-testid="handover-banner">${state}: ${esc(h.from)} → ${esc(h.to)}</div>
    <div class="muted">${esc(h.handoverId)} · ${esc(h.reason)}${h.by ? ` · by ${esc(h.by)}` : ''}</div>
    <div class="clock">
      <span>started <b>${time(h.requestedAt)}</b></span>
      <span>elapsed <b>${clock(end - h.requestedAt)}</b> of ${clock(h.budgetMs)}</span>
    </div>
    <ol class="steps" data-testid="handover-steps">${steps}</ol>`
}

/** The fleet: one row per engine as its registry row says, and the fleet kill switch. */
function renderFleet(fleet) {
  const el = $('fleet')
  el.hidden = !fleet
  if (!fleet) return
  const view = fleet.view
  const ks = view?.killSwitch
  $('fleet-killswitch').innerHTML = !view
    ? '<span class="muted">reading the fleet…</span>'
    : ks?.state === 'active'
      ? `<span class="badge bad">FLEET KILL SWITCH ${esc(ks.action)}</span> ${esc(ks.engines === 'all' ? 'all engines' : ks.engines.join(', '))}: ${esc(ks.reason)} <span class="muted">by ${esc(ks.by)} on ${esc(ks.host)} at ${time(Date.parse(ks.at))}</span>`
      : ks?.state === 'unreadable'
        ? `<span class="badge warn">FLEET KILL SWITCH UNREADABLE</span> revision ${esc(ks.revision)}: ${esc(ks.why)} <span class="muted">each engine keeps its state; reset or activate to write a readable value</span>`
        : `<span class="badge">fleet kill switch off</span>${ks ? ` <span class="muted">reset by ${esc(ks.by)}: ${esc(ks.reason)}</span>` : ''}`
  const rows = (view?.engines ?? []).map((m) => {
    const r = m.row
    const state = r
      ? `${esc(r.state)}${r.step ? ` <span class="muted">${esc(r.step)}</span>` : ''}${r.exit ? ` <span class="muted">exit ${esc(r.exit.code)}</span>` : ''}`
      : '–'
    const tone = !m.reachable ? 'bad' : r?.state === 'RUNNING' ? 'ok' : r?.state === 'STOPPED' || r?.state === 'HALTED' ? 'bad' : 'warn'
    const reach = m.reachable ? 'yes' : `<b class="error">${esc(m.why)}</b>`
    const ksCell = r?.killSwitch?.latched ? `<b class="error">latched (${esc(r.killSwitch.scope ?? 'local')})</b>` : r ? 'off' : '–'
    return `<tr data-engine="${esc(m.engine)}"><td>${esc(m.engine)}</td><td class="muted">${esc(r?.instance ?? '')}</td><td><span class="badge ${tone}">${state}</span></td><td class="num">${r ? num(r.openOrders, 0) : '–'}</td><td class="num">${r ? money(r.grossExposure) : '–'}</td><td>${r?.lastEventAt ? time(Date.parse(r.lastEventAt)) : '–'}</td><td>${ksCell}</td><td>${r ? (r.fleetSeen ? 'yes' : '<b class="error">no</b>') : '–'}</td><td>${reach}${m.ageMs !== undefined ? ` <span class="muted">${clock(m.ageMs)} ago</span>` : ''}</td></tr>`
  })
  $('fleet-engines').innerHTML = table(
    [['engine'], ['instance'], ['state'], ['open orders', 'num'], ['exposure', 'num'], ['last event'], ['kill switch'], ['sees fleet'], ['reachable']],
    rows,
  )
  $('fleet-read').textContent = `${fleet.readAt ? `read ${time(fleet.readAt)}` : 'not read yet'}${fleet.error ? ` · last read failed: ${fleet.error}` : ''}`
  $('fleet-read').className = fleet.error ? 'error' : 'muted'
}

function renderShutdown(v) {
  const el = $('shutdown')
  const sh = v.shutdown
  el.hidden = !sh
  if (!sh) {
    peakOrders = 0
    return
  }
  peakOrders = Math.max(peakOrders, sh.targets.openOrders.now)
  const used = sh.deadlineMs ? ((sh.deadlineMs - sh.remainingMs) / sh.deadlineMs) * 100 : 0
  const orders = sh.targets.openOrders
  const positions = sh.targets.positions
  const steps = sh.steps
    .map((s) => {
      const icon = { completed: '✔', running: '▶', failed: '✖', 'timed-out': '⏱', skipped: '↷' }[s.status] ?? '·'
      const took = s.startedAt && s.endedAt ? clock(s.endedAt - s.startedAt) : s.startedAt ? `since ${time(s.startedAt)}` : ''
      const cmds = s.commands.issued ? `${s.commands.done}/${s.commands.issued} cmds${s.commands.failed ? `, ${s.commands.failed} failed` : ''}` : ''
      return `<li class="${esc(s.status.replace(' ', '-'))}" data-testid="step-${s.step}" data-status="${esc(s.status)}"><span class="icon">${icon}</span><span>${s.step}</span><span>${esc(s.name)}${s.error ? ` <span class="${s.status === 'skipped' ? 'muted' : 'error'}">${esc(s.error)}</span>` : ''}</span><span>${esc(took)}</span><span class="muted">${esc(cmds)}</span></li>`
    })
    .join('')
  const venues = table(
    // commands (a cancel-all takes many orders in one), not orders: the open orders count above counts those
    [['venue'], ['cancel commands', 'num'], ['ok', 'num'], ['failed or timed out', 'num'], ['pending', 'num'], ['reconciliation']],
    sh.venues.map((x) => {
      const rec = v.venues.find((y) => y.venue === x.venue)?.reconciliation ?? '–'
      return `<tr><td>${esc(x.venue)}</td><td class="num">${x.cancels.issued}</td><td class="num">${x.cancels.ok}</td><td class="num">${x.cancels.failed}</td><td class="num">${x.cancels.pending}</td><td>${esc(rec)}</td></tr>`
    }),
  )
  el.innerHTML = `
    <div class="banner">${sh.completed ? 'SHUTDOWN COMPLETE' : 'SHUTDOWN IN PROGRESS'}: ${esc(sh.procedure)}${sh.escalated ? ' (escalated)' : ''}</div>
    <div class="muted">${esc(sh.shutdownId)} · ${esc(sh.reason)} · origin ${esc(sh.origin ?? '?')}</div>
    <div class="clock">
      <span>started <b>${time(sh.requestedAt)}</b></span>
      ${sh.gracefulMs === null ? '' : `<span>graceful <b data-testid="graceful">${clock(sh.gracefulMs)}</b>, then the emergency from <b>${time(sh.startedAt)}</b></span>`}
      <span>elapsed <b data-testid="elapsed">${clock(sh.elapsedMs)}</b></span>
      ${
        sh.completed
          ? `<span data-testid="deadline">${sh.elapsedMs <= sh.deadlineMs ? 'within' : '<b class="error">past</b>'} its deadline of ${clock(sh.deadlineMs)}</span>`
          : `<span>remaining <b data-testid="remaining">${clock(sh.remainingMs)}</b> of ${clock(sh.deadlineMs)}</span>`
      }
    </div>
    <div class="bar ${used > 90 ? 'late' : ''}"><span data-pct="${used}"></span></div>
    <div class="counts">
      <div class="count">open orders <b data-testid="orders-now">${num(orders.now, 0)}</b> → target <span data-testid="orders-target">${orders.target}</span>
        <div class="bar"><span data-pct="${peakOrders ? ((peakOrders - orders.now) / peakOrders) * 100 : 100}"></span></div></div>
      <div class="count">positions <b data-testid="positions-now">${num(positions.now, 0)}</b> → target <span data-testid="positions-target">${positions.target ?? 'kept'}</span></div>
    </div>
    <div class="cols">
      <div><h2>Procedure</h2><ol class="steps" data-testid="steps">${steps}</ol></div>
      <div><h2>Venues</h2><table>${venues}</table></div>
    </div>`
  bars(el)
}

function renderReport(v) {
  const el = $('report')
  const r = v.report
  el.hidden = !r
  if (!r) return
  const tone = r.headline === 'VERIFIED FLAT' || r.headline.startsWith('VERIFIED') ? 'ok' : r.headline === 'RESIDUAL EXPOSURE' ? 'bad' : 'warn'
  el.className = `card report ${tone}`
  const unverified = r.unverified.map((u) => `<li>${esc(u.venue)}: ${esc(u.why)}</li>`).join('')
  const residual = r.residualExposure.map((p) => `<li>${esc(p.venue)} ${esc(p.symbol)} ${num(p.qty, 6)}</li>`).join('')
  el.innerHTML = `
    <div class="banner" data-testid="report-headline">${esc(r.headline)}</div>
    <dl class="facts">${facts([
      ['outcome', `<span data-testid="report-outcome">${esc(r.outcome)}</span>`],
      ['exit code', esc(r.exitCode)],
      ['took', clock(r.durationMs)],
      ['reconciliation', esc(r.verdict)],
      ['open orders left', num(r.openOrders, 0)],
      ['cancel unconfirmed', num(r.cancelUnconfirmed, 0)],
      ['positions', num(r.positions, 0)],
      ['realized P&L', money(r.pnl?.realized)],
    ])}</dl>
    ${unverified ? `<h2>Unverified venues</h2><ul>${unverified}</ul>` : ''}
    ${residual ? `<h2>Residual exposure</h2><ul>${residual}</ul>` : ''}`
}

function renderButtons() {
  const allowed = new Set(me?.actions ?? [])
  const controls = latest?.view?.controls ?? {}
  const standby = latest?.view?.standby
  for (const [root, panel] of [
    [$('action-buttons'), undefined],
    [$('fleet-buttons'), 'fleet'],
  ]) {
    const offered = ACTIONS.filter((a) => a.panel === panel && (!a.control || controls[a.control]))
    const key = `${me?.name}:${standby ? 'standby' : 'leader'}:${reachable}:${offered.map((a) => a.id).join(',')}`
    if (root.dataset.for === key) continue
    root.dataset.for = key
    root.innerHTML = offered
      .map((a) => {
        const may = reachable && allowed.has(a.path) && !standby
        const why = !reachable
          ? 'haltd does not answer (it stopped, or the link is down): no action can reach it'
          : standby
            ? `a standby takes no action: act on the leader${standby.leader ? ` (${esc(standby.leader.instance)})` : ''}`
            : `your role (${esc(me?.role)}) may not do this`
        return `<button type="button" data-action="${a.id}" class="${a.danger ? 'danger' : ''}" ${may ? '' : 'disabled'} title="${may ? esc(a.what) : why}">${esc(a.label)}</button>`
      })
      .join('')
  }
}

// ── acting: a typed reason and a confirmation ───────────────────────────────────────────────

let chosen
const ready = () => $('confirm-reason').value.trim() !== '' && (!chosen?.to || $('confirm-to').value.trim() !== '')
const choose = (e) => {
  const button = e.target.closest('button[data-action]')
  if (!button || button.disabled) return
  chosen = ACTIONS.find((a) => a.id === button.dataset.action)
  $('confirm-title').textContent = chosen.label
  $('confirm-what').textContent = chosen.what
  $('confirm-reason').value = ''
  $('confirm-ok').disabled = true
  $('confirm-ok').textContent = `Confirm: ${chosen.label}`
  const choice = $('confirm-choice')
  $('confirm-choice-label').hidden = !chosen.choice
  choice.innerHTML = (chosen.choice?.options ?? []).map((o) => `<option>${esc(o)}</option>`).join('')
  // the engines the fleet knows now: all of them, or one
  $('confirm-engines-label').hidden = !chosen.engines
  const engines = [...new Set((latest?.view?.fleet?.view?.engines ?? []).map((m) => m.engine))]
  $('confirm-engines').innerHTML = ['all', ...engines].map((o) => `<option>${esc(o)}</option>`).join('')
  $('confirm-to-label').hidden = !chosen.to
  $('confirm-to').value = ''
  $('confirm').showModal()
  $(chosen.to ? 'confirm-to' : 'confirm-reason').focus()
}
$('action-buttons').addEventListener('click', choose)
$('fleet-buttons').addEventListener('click', choose)
for (const id of ['confirm-reason', 'confirm-to']) {
  $(id).addEventListener('input', () => {
    $('confirm-ok').disabled = !ready()
  })
}
$('confirm-cancel').addEventListener('click', () => $('confirm').close())
$('confirm-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const reason = $('confirm-reason').value.trim()
  if (!chosen || !ready()) return
  const engines = $('confirm-engines').value
  const body = {
    ...chosen.body,
    reason,
    ...(chosen.choice ? { [chosen.choice.name]: $('confirm-choice').value } : {}),
    ...(chosen.engines ? { engines: engines === 'all' ? 'all' : [engines] } : {}),
    ...(chosen.to ? { to: $('confirm-to').value.trim() } : {}),
  }
  $('confirm').close()
  const r = await api('POST', chosen.path, body)
  const outcome = r.body?.result?.outcome ? `: ${r.body.result.outcome}${r.body.result.reason ? ` (${r.body.result.reason})` : ''}` : ''
  $('action-result').textContent =
    r.status === 202 ? `${chosen.label}: accepted${outcome} (${time(Date.now())})` : `${chosen.label}: refused (${r.status}): ${r.body?.error?.message ?? ''}`
  $('action-result').className = r.status === 202 ? 'muted' : 'error'
})

start()
