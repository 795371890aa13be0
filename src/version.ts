import { readFileSync } from 'node:fs'

// Read at run time rather than imported: the same line works from src/ and from dist/, both one
// folder below package.json.
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
