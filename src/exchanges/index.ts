export * from './gateway.js'
export * from './errors.js'
export * from './sim/index.js'
export { seededRng, mulberry32, deriveSeed, type Rng } from './rng.js'
