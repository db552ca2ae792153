// Each CLI command registers itself here; the list grows with the daemon and the audit tools.
import './log-commands.js'
import './daemon-commands.js'
import './audit-commands.js'
