export const HALTD_VERSION = '0.1.0'
