// Each CLI command registers itself here; the list grows with the daemon and the audit tools.
import './log-commands.js'
