import { describe, it, expect } from 'vitest'
import { IdlemeshError } from '../src/errors.ts'

describe('toolchain', () => {
  it('runs TypeScript on Node >= 22', () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(22)
    expect(new IdlemeshError('X', 'y', { status: 400 }).status).toBe(400)
  })
})
