import * as dagCbor from '@ipld/dag-cbor'
import { z } from 'zod'

/**
 * Every message between idlemesh nodes is dag-cbor, checked against a zod schema on arrival:
 * anything that does not decode or does not match is `undefined`, never a half-trusted value.
 */
export const wireBytes = z.custom<Uint8Array>(value => value instanceof Uint8Array, 'expected bytes')

export function encodeWire (value: unknown): Uint8Array {
  return dagCbor.encode(value)
}

export function decodeWire<T> (schema: z.ZodType<T>, data: Uint8Array): T | undefined {
  let value: unknown
  try {
    value = dagCbor.decode(data)
  } catch {
    return undefined
  }
  const parsed = schema.safeParse(value)
  return parsed.success ? parsed.data : undefined
}
