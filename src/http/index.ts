export { buildHttpApp, type HttpAppInit, type HttpAppComponents, type RouteRegistrar } from './app.ts'
export { toErrorBody, sendError, type ErrorBody } from './errors.ts'
export { parseHostPort, isLoopbackHost } from './host.ts'
