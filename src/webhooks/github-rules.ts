import { z } from 'zod'
import { ruleSchema, type Rule, type WebhooksConfig } from './config.ts'

/** Priority of the loop guards: ahead of every rule left at the default priority (100). */
const GUARD_PRIORITY = 10
/** Priority of the built-in actions: behind every rule left at the default priority (100). */
const BUILTIN_PRIORITY = 1000

const ISSUE_KEY = '{{ event.repo }}#{{ payload.issue.number }}'

/**
 * What idlemesh does with GitHub events out of the box. They join the configured rules: a
 * configured rule of the same name replaces one, and a configured rule at the default priority
 * matching the same event wins over the built-in actions but not over the loop guards, so a
 * custom `issue_comment.created` rule still never answers a bot or a pull-request comment
 * unless the guard is replaced by name.
 *
 * - `issues.opened`: a task working on the issue, in a clone of the repository, with the
 *   conversation key `owner/repo#N` that follow-ups resume.
 * - `issue_comment.created`: a follow-up task on the same conversation, skipped when the comment
 *   comes from a bot (`sender.type` Bot or a login in `github.botLogins`: answering it could
 *   start a loop) or sits on a pull request (`issue.pull_request` exists).
 * - `push`: a checkpoint on the stream `owner/repo` summing up the push.
 * - `ping`: noop; the event itself is still recorded.
 * `pull_request`, `release` and the rest go to the configured rules and defaults.
 */
export function githubRules (github: WebhooksConfig['github']): Rule[] {
  const comment = { provider: 'github', type: 'issue_comment.created' } as const
  return z.array(ruleSchema).parse([
    {
      name: 'github.issue_comment.bot',
      priority: GUARD_PRIORITY,
      match: { ...comment, where: [{ path: 'payload.sender.type', equals: 'Bot' }] },
      skip: 'comment by a bot (sender.type is Bot); following it up could loop'
    },
    {
      name: 'github.issue_comment.bot-login',
      priority: GUARD_PRIORITY,
      match: { ...comment, where: [{ path: 'payload.sender.login', oneOf: github.botLogins }] },
      skip: 'comment by a login listed in github.botLogins; following it up could loop'
    },
    {
      name: 'github.issue_comment.pull-request',
      priority: GUARD_PRIORITY,
      match: { ...comment, where: [{ path: 'payload.issue.pull_request', exists: true }] },
      skip: 'comment on a pull request, not on an issue'
    },
    {
      name: 'github.issues.opened',
      priority: BUILTIN_PRIORITY,
      match: { provider: 'github', type: 'issues.opened' },
      actions: [{
        kind: 'task',
        prompt: [
          `Work on GitHub issue ${ISSUE_KEY}, opened by {{ payload.issue.user.login }}: {{ payload.issue.html_url }}`,
          '',
          'Title: {{ payload.issue.title }}',
          '',
          '{{ payload.issue.body }}'
        ].join('\n'),
        repo: '{{ payload.repository.clone_url }}',
        conversation: ISSUE_KEY,
        branch: 'issue-{{ payload.issue.number }}'
      }]
    },
    {
      name: 'github.issue_comment.created',
      priority: BUILTIN_PRIORITY,
      match: comment,
      actions: [{
        kind: 'task',
        prompt: [
          `New comment by {{ payload.comment.user.login }} on ${ISSUE_KEY} ({{ payload.comment.html_url }}):`,
          '',
          '{{ payload.comment.body }}'
        ].join('\n'),
        repo: '{{ payload.repository.clone_url }}',
        conversation: ISSUE_KEY,
        branch: 'issue-{{ payload.issue.number }}'
      }]
    },
    {
      name: 'github.push',
      priority: BUILTIN_PRIORITY,
      match: { provider: 'github', type: 'push' },
      actions: [{
        kind: 'checkpoint',
        stream: '{{ event.repo }}',
        label: 'push {{ payload.ref }}',
        message: [
          'Push to {{ payload.ref }} by {{ payload.pusher.name }}: {{ payload.before }} -> {{ payload.after }}',
          'Commits: {{ payload.commits.length }}',
          'Head commit: {{ payload.head_commit.message }}',
          'Compare: {{ payload.compare }}'
        ].join('\n')
      }]
    },
    {
      name: 'github.ping',
      priority: BUILTIN_PRIORITY,
      match: { provider: 'github', type: 'ping' },
      actions: [{ kind: 'noop' }]
    }
  ])
}
