/**
 * Request headers as Node and fastify hand them over: lower-case names, a string or, for a header
 * sent more than once, an array of strings.
 */
export type WebhookHeaders = Readonly<Record<string, string | string[] | undefined>>

/** Every non-blank value of a header, trimmed, in the order received. */
export function headerValues (headers: WebhookHeaders, name: string): string[] {
  const value = headers[name]
  if (value === undefined) return []
  return (Array.isArray(value) ? value : [value]).map(v => v.trim()).filter(v => v !== '')
}

/** The first non-blank value of a header, or undefined. */
export function firstHeader (headers: WebhookHeaders, name: string): string | undefined {
  return headerValues(headers, name)[0]
}
