import { Level } from 'level'

/**
 * The node's durable store: one LevelDB per data dir, values as bytes. Modules take a
 * sublevel each (`store.sublevel('checkpoints', …)`) so their keys never collide.
 */
export type Store = Level<string, Uint8Array>

export async function openStore (path: string): Promise<Store> {
  const db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  return db
}
