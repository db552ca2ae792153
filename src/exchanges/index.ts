export * from './gateway.js'
export * from './errors.js'
