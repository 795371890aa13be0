import { spawn } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Message } from '../../src/events/index.ts'
import type { IdlemeshNode } from '../../src/node.ts'
import { CLI, childEnv, initMesh, runCli, seesAllAlive, startTestNode, stopAll, tempDirs, type TempDirs } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { githubDelivery, postWebhook } from './helpers.ts'

/** The events and messages commands, run as a person runs them, against two real nodes. */
describe('idlemesh events / event / message send / messages', () => {
  let dirs: TempDirs
  let a: IdlemeshNode
  let b: IdlemeshNode

  beforeAll(async () => {
    dirs = tempDirs()
    const [dirA, dirB] = await initMesh(dirs, 2) as [string, string]
    const config = { webhooks: { sources: { gh: { scheme: 'github' as const, secrets: ["It's a Secret to Everybody"] } } }, events: { startupSettleMs: 0 }, tasks: { capacity: 0 } }
    a = await startTestNode(dirA, config)
    b = await startTestNode(dirB, { ...config, bootstrap: [a.multiaddrs()[0] as string] })
    await waitFor(() => seesAllAlive(a, [a.peerId, b.peerId]) && seesAllAlive(b, [a.peerId, b.peerId]), { what: 'both nodes alive' })
  })
  afterAll(async () => {
    await stopAll([a, b])
    dirs?.cleanup()
  })

  it('a message sent on A to B reaches B, typed and addressed; A lists it only with --all', async () => {
    const sent = await runCli(['message', 'send', '--node', a.httpUrl, '--to', b.peerId, '--type', 'handoff', '--subject', 'take over issue 42', '--body', 'branch issue-42 is pushed', '--priority', 'high', '--context', '{"repo":"acme/api","issue":42}', '--deadline', '2030-01-01T00:00:00Z', '--json'])
    expect(sent.stderr).toBe('')
    expect(sent.code).toBe(0)
    const message = JSON.parse(sent.stdout) as Message
    expect(message).toMatchObject({ from: a.peerId, to: b.peerId, type: 'handoff', subject: 'take over issue 42', body: 'branch issue-42 is pushed', priority: 'high', context: { repo: 'acme/api', issue: 42 }, deadline: '2030-01-01T00:00:00Z' })

    const onB = await waitFor(async () => {
      const listed = await runCli(['messages', '--node', b.httpUrl, '--json'])
      const messages = (JSON.parse(listed.stdout) as { messages: Message[] }).messages
      return messages.find(m => m.id === message.id)
    }, { what: 'the message on B' })
    expect(onB).toEqual(message)
    const human = await runCli(['messages', '--node', b.httpUrl])
    expect(human.stdout).toContain('[high] handoff')
    expect(human.stdout).toContain('take over issue 42')
    expect(human.stdout).toContain('branch issue-42 is pushed')

    const inboxA = JSON.parse((await runCli(['messages', '--node', a.httpUrl, '--json'])).stdout) as { messages: Message[] }
    expect(inboxA.messages.some(m => m.id === message.id)).toBe(false)
    const everything = JSON.parse((await runCli(['messages', '--node', a.httpUrl, '--all', '--json'])).stdout) as { messages: Message[] }
    expect(everything.messages.some(m => m.id === message.id)).toBe(true)

    // A message is an event like any other, with source `message`.
    const asEvent = await runCli(['event', message.id, '--node', b.httpUrl])
    expect(asEvent.code).toBe(0)
    expect(asEvent.stdout).toContain(`event message/${message.id}: handoff (message), recorded`)
  })

  it('refuses an unknown recipient and a missing subject, in one line each', async () => {
    const unknown = await runCli(['message', 'send', '--node', a.httpUrl, '--to', '12D3KooWNobodyNobodyNobodyNobodyNobodyNobodyNobody', '--type', 'note', '--subject', 'hi'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/^idlemesh: no member 12D3KooWNobody.* is known to this node/)
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1)
    const noSubject = await runCli(['message', 'send', '--node', a.httpUrl, '--to', 'all', '--type', 'note'])
    expect(noSubject.code).not.toBe(0)
    expect(noSubject.stderr).toMatch(/^idlemesh: .*--subject/)
  })

  it('events lists a webhook on the other node; event shows its routing and outcome; an unknown id fails clearly', async () => {
    const delivery = await githubDelivery('ping', { zen: 'Design for failure.', hook_id: 7, repository: { full_name: 'acme/api' } })
    expect((await postWebhook(a.httpUrl, '/webhook/gh', delivery)).status).toBe(202)
    await waitFor(() => b.events.store.meta(`gh/${delivery.id}`)?.actions.every(s => s.state === 'succeeded'), { what: 'the ping done on B' })

    const list = await runCli(['events', '--node', b.httpUrl, '--source', 'gh'])
    expect(list.code).toBe(0)
    expect(list.stdout).toMatch(/RECEIVED\s+SOURCE\s+ID\s+TYPE\s+RULE\s+STATUS/)
    expect(list.stdout).toContain(delivery.id)
    expect(list.stdout).toContain('noop:succeeded')

    const shown = await runCli(['event', delivery.id, '--node', b.httpUrl, '--payload'])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toContain(`event gh/${delivery.id}: ping (github), done`)
    expect(shown.stdout).toContain('routing: rule github.ping')
    expect(shown.stdout).toContain('Design for failure.')

    const missing = await runCli(['event', 'no-such-event', '--node', b.httpUrl])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/^idlemesh: no event "no-such-event" on this node/)
  })

  it('messages --follow prints a message sent after it started', async () => {
    const child = spawn(process.execPath, [CLI, 'messages', '--follow', '--interval', '100', '--node', b.httpUrl], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    try {
      // The first page is printed before anything new is sent.
      await waitFor(() => out.includes('take over issue 42'), { what: 'the existing message' })
      const response = await fetch(`${a.httpUrl}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: 'all', type: 'alert', subject: 'disk almost full', priority: 'urgent' }) })
      expect(response.status).toBe(201)
      await waitFor(() => out.includes('[urgent] alert') && out.includes('disk almost full'), { what: 'the new message in the follow output' })
      expect(out.split('take over issue 42').length - 1).toBe(1)
    } finally {
      child.kill('SIGTERM')
    }
  })
})
