import { z } from 'zod'

/**
 * The names of the shutdown procedures' steps, in runbook order. They are data (recorded in every
 * `shutdown.step-*` event, and the keys of the budgets a config may set), so they are one union:
 * a misspelt budget key fails the config instead of silently falling back to the default.
 */
export const GracefulStepName = z.enum([
  'announce',
  'lock deployments and config',
  'reduce position limits',
  'disable strategies and close the gate',
  'cancel orders and flatten',
  'wait for order completion',
  'reconcile',
  'checkpoint',
  'stop market data',
  'close venue connections',
  'stop services',
  'health check',
  'report and notify',
])
export type GracefulStepName = z.infer<typeof GracefulStepName>

export const EmergencyStepName = z.enum(['halt', 'latch kill switch', 'cancel all orders', 'quick checkpoint', 'stop'])
export type EmergencyStepName = z.infer<typeof EmergencyStepName>

export type StepName = GracefulStepName | EmergencyStepName
