export {
  createNotifier,
  describeOutcome,
  type Notification,
  type NotificationSink,
  type Notifier,
  type NotifierOptions,
  type DeliveryOutcome,
  type TrackedNotifier,
  type Delivered,
} from './notifier.js'
export { logSink, outcomeToProcessLog } from './log-sink.js'
export { webhookSink, webhookBody, retryAfterMs, WebhookFailed, type WebhookSinkOptions } from './webhook-sink.js'
