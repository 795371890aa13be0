/**
 * A dotted path into a JSON value: segments of letters, digits, `_`, `$` or `-`, separated by
 * dots; a numeric segment indexes an array (`commits.0.message`) and `length` gives an array's size.
 */
export const PATH_PATTERN = /^[\w$-]+(?:\.[\w$-]+)*$/

export function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The value at `path`, or undefined when any segment is missing. */
export function lookup (root: unknown, path: string): unknown {
  let value: unknown = root
  for (const key of path.split('.')) {
    // Own properties only: a path written by an operator or shaped by a sender's payload must
    // never reach Object.prototype (`constructor`, `__proto__`, `toString`).
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return undefined
    value = (value as Record<string, unknown>)[key]
  }
  return value
}

/** The string at `path`, or undefined when it is missing, not a string or blank. */
export function stringAt (root: unknown, path: string): string | undefined {
  const value = lookup(root, path)
  return typeof value === 'string' && value.trim() !== '' ? value : undefined
}
