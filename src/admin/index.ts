export { startAdminServer, type AdminServer, type AdminServerOptions } from './server.js'
export {
  ActionBody,
  ShutdownBody,
  KillSwitchActivateBody,
  DrainForceBody,
  type AdminBackend,
  type ActionRequest,
  type ShutdownRequest,
  type KillSwitchActivateRequest,
  type DrainForceRequest,
  type Health,
} from './backend.js'
export { renderPrometheus, PROMETHEUS_CONTENT_TYPE, type Metric } from './prometheus.js'
export {
  generateToken,
  hashToken,
  credentials,
  byOf,
  Role,
  AdminUser,
  TokenHash,
  READERS,
  OPERATORS,
  ADMINS,
  type Principal,
  type Credentials,
} from './access.js'
export { streamEvents, type EventsFrame } from './events-socket.js'
export { adminInfoPath, readAdminInfo, writeAdminInfo, removeAdminInfo, AdminInfo, NoAdminInfo } from './info-file.js'
export { adminRequest, AdminUnreachable, type AdminTarget, type AdminReply } from './client.js'
