export { createNotifier, type Notification, type NotificationSink, type Notifier, type NotifierOptions, type DeliveryOutcome } from './notifier.js'
export { logSink } from './log-sink.js'
export { webhookSink, webhookBody, WebhookFailed, type WebhookSinkOptions } from './webhook-sink.js'
