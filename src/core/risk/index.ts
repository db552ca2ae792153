export { KillAction, RiskConfig, InvalidRiskConfig, parseRiskConfig, type RiskConfigInput, type TriggerName } from './config.js'
export { ActivationNeedsReason, KillSwitchNotLatched, ResetNeedsReason } from './errors.js'
export { drawdownReading, grossNotional, readings, type Reading } from './readings.js'
export { RiskMonitor, type RiskLog, type RiskMonitorOptions, type RiskStatus, type Trip } from './monitor.js'
