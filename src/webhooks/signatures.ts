import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Scheme, SourceConfig } from './config.ts'
import { webhookError } from './errors.ts'
import type { IdlemeshError } from '../errors.ts'
import { headerValues, type WebhookHeaders } from './headers.ts'

export interface Verification {
  scheme: Scheme
  /**
   * Position in `secrets` of the secret that matched (null for scheme 'none'): once no delivery
   * matches an old secret any more, the rotation is complete and it can be removed.
   */
  secretIndex: number | null
}

/**
 * Checks that `rawBody` (the exact bytes received) was signed by the source with one of its
 * secrets, and for timestamped schemes that the signature is fresh. Throws an IdlemeshError with
 * status 401 (WEBHOOK_SIGNATURE_MISSING, WEBHOOK_SIGNATURE_INVALID,
 * WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE) otherwise. `now` is the node's clock in ms since the epoch.
 *
 * - github: `x-hub-signature-256: sha256=<hex>`, HMAC-SHA256 of the body.
 * - generic: `x-signature: sha256=<hex>`, the same construction.
 * - standard: Standard Webhooks; HMAC-SHA256 keyed with the base64 part of `whsec_…` over
 *   `${webhook-id}.${webhook-timestamp}.${body}`; `webhook-signature` lists `v1,<base64>` entries.
 * - stripe: `stripe-signature: t=<seconds>,v1=<hex>[,v1=…]`, HMAC-SHA256 keyed with the whole
 *   `whsec_…` string over `${t}.${body}`.
 * - none: accepts everything.
 *
 * The signature is checked before the timestamp, so only a holder of the secret learns that its
 * clock is off.
 */
export function verifySignature (source: SourceConfig, headers: WebhookHeaders, rawBody: Buffer, now: number): Verification {
  switch (source.scheme) {
    case 'none':
      return { scheme: 'none', secretIndex: null }
    case 'github':
      return verifyHexHeader('github', source.secrets, headers, 'x-hub-signature-256', rawBody)
    case 'generic':
      return verifyHexHeader('generic', source.secrets, headers, 'x-signature', rawBody)
    case 'standard':
      return verifyStandard(source, headers, rawBody, now)
    case 'stripe':
      return verifyStripe(source, headers, rawBody, now)
  }
}

function verifyHexHeader (scheme: Scheme, secrets: string[], headers: WebhookHeaders, header: string, rawBody: Buffer): Verification {
  const values = headerValues(headers, header)
  if (values.length === 0) throw missing(header)
  const candidates = values.map(value => {
    const match = /^sha256=([0-9a-f]*)$/i.exec(value)
    return hexBytes(match?.[1] ?? '')
  })
  const secretIndex = matchingSecret(secrets, secret => hmac(secret, [rawBody]), candidates)
  if (secretIndex === -1) throw invalid(`${header} matches none of the source's secrets`)
  return { scheme, secretIndex }
}

function verifyStandard (source: SourceConfig, headers: WebhookHeaders, rawBody: Buffer, now: number): Verification {
  const id = single(headers, 'webhook-id')
  const timestamp = single(headers, 'webhook-timestamp')
  const signatures = headerValues(headers, 'webhook-signature')
  if (id === undefined || timestamp === undefined || signatures.length === 0) {
    const absent = [id === undefined && 'webhook-id', timestamp === undefined && 'webhook-timestamp', signatures.length === 0 && 'webhook-signature']
    throw missing(absent.filter(h => h !== false).join(', '))
  }
  const seconds = parseSeconds(timestamp, 'webhook-timestamp')
  const candidates: Buffer[] = []
  for (const entry of signatures.join(' ').split(' ')) {
    const comma = entry.indexOf(',')
    // Other versions (v1a is asymmetric) are not ours to check; they neither pass nor fail.
    if (comma !== -1 && entry.slice(0, comma) === 'v1') candidates.push(Buffer.from(entry.slice(comma + 1), 'base64'))
  }
  if (candidates.length === 0) throw invalid('webhook-signature holds no v1 signature')
  const secretIndex = matchingSecret(source.secrets, secret => {
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64')
    return hmac(key, [`${id}.${timestamp}.`, rawBody])
  }, candidates)
  if (secretIndex === -1) throw invalid("webhook-signature matches none of the source's secrets")
  checkTolerance(seconds, now, source.toleranceSeconds)
  return { scheme: 'standard', secretIndex }
}

function verifyStripe (source: SourceConfig, headers: WebhookHeaders, rawBody: Buffer, now: number): Verification {
  const header = single(headers, 'stripe-signature')
  if (header === undefined) throw missing('stripe-signature')
  let timestamp: string | undefined
  const candidates: Buffer[] = []
  for (const part of header.split(',')) {
    const eq = part.indexOf('=')
    if (eq === -1) continue
    const key = part.slice(0, eq).trim()
    const value = part.slice(eq + 1).trim()
    if (key === 't') {
      if (timestamp !== undefined) throw invalid('stripe-signature holds more than one t=')
      timestamp = value
    } else if (key === 'v1') {
      candidates.push(hexBytes(value))
    }
  }
  if (timestamp === undefined || candidates.length === 0) throw invalid('stripe-signature needs t= and at least one v1=')
  const seconds = parseSeconds(timestamp, 'the t= of stripe-signature')
  const signedTimestamp = timestamp
  const secretIndex = matchingSecret(source.secrets, secret => hmac(secret, [`${signedTimestamp}.`, rawBody]), candidates)
  if (secretIndex === -1) throw invalid("stripe-signature matches none of the source's secrets")
  checkTolerance(seconds, now, source.toleranceSeconds)
  return { scheme: 'stripe', secretIndex }
}

/**
 * Index of the first secret whose MAC equals one of the candidates, or -1. Every secret is
 * tried against every candidate, whatever matched before, so the time taken does not tell which
 * secret or candidate came close.
 */
function matchingSecret (secrets: string[], mac: (secret: string) => Buffer, candidates: Buffer[]): number {
  let found = -1
  for (const [index, secret] of secrets.entries()) {
    const expected = mac(secret)
    for (const candidate of candidates) {
      if (constantTimeEqual(expected, candidate) && found === -1) found = index
    }
  }
  return found
}

function constantTimeEqual (expected: Buffer, given: Buffer): boolean {
  // timingSafeEqual needs equal lengths. A MAC's length is public, so a mismatch reveals nothing,
  // but comparing anyway keeps every failure on the same path.
  const sameLength = given.length === expected.length
  return timingSafeEqual(expected, sameLength ? given : expected) && sameLength
}

function hmac (key: string | Buffer, parts: Array<string | Buffer>): Buffer {
  const h = createHmac('sha256', key)
  for (const part of parts) h.update(part)
  return h.digest()
}

/** Hex to bytes; anything that is not whole bytes of hex becomes empty, which never matches. */
function hexBytes (hex: string): Buffer {
  return /^(?:[0-9a-f]{2})+$/i.test(hex) ? Buffer.from(hex, 'hex') : Buffer.alloc(0)
}

function single (headers: WebhookHeaders, name: string): string | undefined {
  const values = headerValues(headers, name)
  // Two values for a header that is signed over would leave us guessing which one was meant.
  if (values.length > 1) throw invalid(`${name} was sent more than once`)
  return values[0]
}

function parseSeconds (value: string, what: string): number {
  if (!/^\d{1,12}$/.test(value)) throw invalid(`${what} is not a Unix time in seconds`)
  return Number(value)
}

function checkTolerance (seconds: number, now: number, toleranceSeconds: number): void {
  const skew = now / 1000 - seconds
  if (Math.abs(skew) > toleranceSeconds) {
    throw webhookError('WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE', `the signed timestamp is ${Math.round(Math.abs(skew))} s ${skew > 0 ? 'old' : 'in the future'}, beyond the tolerance of ${toleranceSeconds} s; check this node's clock (NTP) if this repeats`)
  }
}

function missing (headers: string): IdlemeshError {
  return webhookError('WEBHOOK_SIGNATURE_MISSING', `this source requires a signature; missing header: ${headers}`)
}

function invalid (reason: string): IdlemeshError {
  return webhookError('WEBHOOK_SIGNATURE_INVALID', `signature rejected: ${reason}`)
}
