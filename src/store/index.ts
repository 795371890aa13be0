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

/** The part of a LevelDB a module uses: the whole store or one sublevel of it. */
export type KeyValueStore = Pick<Store, 'get' | 'getMany' | 'batch' | 'iterator' | 'keys'>

/** A module's own key space inside the node's store. */
export function sublevel (store: Store, name: string): KeyValueStore {
  // A sublevel has the same methods as its parent; only the generic parameters differ.
  return store.sublevel<string, Uint8Array>(name, { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as KeyValueStore
}
export { GroupCommit, type BatchOp } from './group-commit.ts'
