import type { TaskService } from './index.ts'

/** A task as the events module hands it over (src/events/actions.ts), matched structurally. */
export interface EventTask {
  id: string
  source: string
  eventId: string
  eventKey?: string
  prompt: string
  repo?: string
  conversation?: string
  branch?: string
}

/**
 * Adapts the task service to the events module's TaskSink: the event's deterministic action id
 * becomes the task id, so a retried or taken-over action finds the task it submitted before.
 * What it returns is stored in the event's outcome: small, and enough to find the task.
 */
export function eventTaskSink (tasks: Pick<TaskService, 'submit'>): { submit: (task: EventTask, options?: { signal?: AbortSignal }) => Promise<Record<string, unknown>> } {
  return {
    async submit (task) {
      const view = await tasks.submit({
        id: task.id,
        event: { source: task.source, id: task.eventId, action: task.id },
        prompt: task.prompt,
        ...(task.repo === undefined ? {} : { repo: task.repo }),
        ...(task.conversation === undefined ? {} : { conversation: task.conversation }),
        ...(task.branch === undefined ? {} : { branch: task.branch })
      })
      return { taskId: view.id, status: view.status, coordinator: view.coordinator, duplicate: (view as { duplicate?: boolean }).duplicate === true }
    }
  }
}
