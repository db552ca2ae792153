// The layering of src/ (docs/ARCHITECTURE.md, "Folders"): each rule names a room and the rooms it
// must not reach. `npm run lint` runs it; CI fails on any violation.
const layer = (name, from, notTo, comment) => ({ name, comment, severity: 'error', from: { path: from }, to: { path: notTo } })

module.exports = {
  forbidden: [
    { name: 'no-circular', comment: 'No module reaches itself through its imports.', severity: 'error', from: {}, to: { circular: true } },
    layer('events-are-the-bottom', '^src/events/', '^src/(?!events/)', 'The catalogue imports nothing of haltd but itself.'),
    layer('projections-read-events-only', '^src/projections/', '^src/(?!events/|projections/)', 'Pure folds over the catalogue.'),
    layer('exchanges-know-no-engine', '^src/exchanges/', '^src/(?!events/|exchanges/)', 'The venue port and its adapters stand below the engine.'),
    layer('strategies-know-no-engine', '^src/strategies/', '^src/(?!events/|exchanges/|strategies/)', 'Strategies see ports, never the engine.'),
    layer('core-is-the-engine', '^src/core/', '^src/(daemon|admin|audit|cli)/|^src/(index|cli)\\.ts$', 'The engine knows nothing of the surfaces around it.'),
    layer(
      'cluster-beside-the-engine',
      '^src/cluster/',
      '^src/(daemon|admin|audit|cli)/|^src/(index|cli)\\.ts$',
      'Replication, leadership and the fleet work over the engine and NATS, below the surfaces.',
    ),
    layer(
      'admin-serves-ports',
      '^src/admin/',
      '^src/(daemon|audit|cli)/|^src/(index|cli)\\.ts$',
      'The admin API serves a backend port; the daemon implements it.',
    ),
    layer('audit-reads-offline', '^src/audit/', '^src/(daemon|admin|cli)/|^src/(index|cli)\\.ts$', 'The audit reads log files; it needs no running daemon.'),
    layer(
      'daemon-below-cli',
      '^src/daemon/',
      '^src/(audit|cli)/|^src/(index|cli)\\.ts$',
      'The daemon composes the engine and the admin API; the CLI drives it.',
    ),
    layer('cli-is-the-top', '^src/cli/', '^src/index\\.ts$', 'Commands import the rooms they drive, never the package entry.'),
    layer('src-never-reads-tests', '^src/', '^(test|bench)/', 'Shipped code stands alone.'),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js'] },
    extraExtensionsToScan: ['.mjs'],
  },
}
