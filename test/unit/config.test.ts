import { readFileSync, writeFileSync } from 'node:fs'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'
import { configSchema, loadConfig, envToConfig } from '../../src/config/index.ts'
import { tempDirs } from '../helpers/nodes.ts'

describe('config', () => {
  it('runs on embedded defaults with no file and no environment', () => {
    const config = loadConfig({ env: {} })
    expect(config.http.listen).toBe('127.0.0.1:7701')
    expect(config.membership.heartbeatIntervalMs).toBe(1000)
    expect(config.listen).toEqual(['/ip4/0.0.0.0/tcp/7700'])
    expect(Object.isFrozen(config.membership)).toBe(true)
  })

  it('maps IDLEMESH_* variables onto nested fields, lists as comma-separated text', () => {
    expect(envToConfig({
      IDLEMESH_MEMBERSHIP__HEARTBEAT_INTERVAL_MS: '500',
      IDLEMESH_BOOTSTRAP: '/ip4/10.0.0.1/tcp/7700, /ip4/10.0.0.2/tcp/7700',
      IDLEMESH_API_TOKEN: 'a-very-long-api-token',
      IDLEMESH_DATA_DIR: '/ignored/here',
      PATH: '/bin'
    })).toEqual({
      membership: { heartbeatIntervalMs: 500 },
      bootstrap: ['/ip4/10.0.0.1/tcp/7700', '/ip4/10.0.0.2/tcp/7700'],
      http: { token: 'a-very-long-api-token' }
    })
  })

  it('file < environment < command-line flags', () => {
    const dirs = tempDirs()
    try {
      const file = dirs.dir('c.yaml')
      writeFileSync(file, '# comment\ntasks:\n  capacity: 3\nhttp:\n  listen: 127.0.0.1:9000\nlog:\n  level: warn\n')
      const config = loadConfig({ file, env: { IDLEMESH_TASKS__CAPACITY: '5', IDLEMESH_HTTP: '127.0.0.1:9001' }, overrides: { http: { listen: '127.0.0.1:9002' } } })
      expect(config.tasks.capacity).toBe(5)
      expect(config.http.listen).toBe('127.0.0.1:9002')
      expect(config.log.level).toBe('warn')
    } finally {
      dirs.cleanup()
    }
  })

  it('names the field and what is allowed', () => {
    expect(() => loadConfig({ env: { IDLEMESH_LISTEN: '/ip4/999.1.1.1/tcp/x' } })).toThrow(/listen\.0: expected a multiaddr/)
    expect(() => loadConfig({ env: { IDLEMESH_MEMBERSHIP__SUSPECT_AFTER_MS: '50000' } })).toThrow(/membership: expected heartbeatIntervalMs < suspectAfterMs < deadAfterMs/)
    expect(() => loadConfig({ env: { IDLEMESH_API_TOKEN: 'short' } })).toThrow(/http\.token: an API token has at least 16 characters/)
    expect(() => loadConfig({ overrides: { colour: 'blue' } })).toThrow(/unknown field\(s\) "colour"/)
  })

  it('the annotated example config is valid and documents every section', () => {
    const file = new URL('../../config/idlemesh.example.yaml', import.meta.url).pathname
    const config = loadConfig({ file, env: {} })
    expect(config.membership.deadAfterMs).toBeGreaterThan(config.membership.suspectAfterMs)
    const documented = Object.keys(parse(readFileSync(file, 'utf8')) as Record<string, unknown>).sort()
    expect(documented).toEqual(Object.keys(configSchema.shape).sort())
  })
})
