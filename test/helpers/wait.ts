/** Polls `condition` until it returns a truthy value or `timeoutMs` passes; never a fixed sleep. */
export async function waitFor<T> (condition: () => T | Promise<T>, options: { timeoutMs?: number, intervalMs?: number, what?: string } = {}): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 15_000
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await condition()
      if (value !== undefined && value !== null && value !== false) return value as NonNullable<T>
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      const detail = lastError === undefined ? '' : ` (last error: ${(lastError as Error).message})`
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'a condition'}${detail}`)
    }
    await new Promise(resolve => setTimeout(resolve, options.intervalMs ?? 50))
  }
}
