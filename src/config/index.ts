export { configSchema, type Config, type ConfigInput } from './schema.ts'
export { loadConfig, validateConfig, envToConfig, type LoadConfigInit } from './load.ts'
