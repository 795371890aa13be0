/**
 * Shell-style wildcard match of the whole `text`: `*` matches any run of characters (dots and
 * slashes included, so `issues.*` and `refs/heads/*` work), `?` exactly one; everything else is
 * literal and there is no escape. A two-pointer walk rather than a RegExp keeps the cost at
 * O(glob × text) whatever the pattern, so no rule can make a large payload stall the router.
 */
export function globMatch (glob: string, text: string): boolean {
  let g = 0
  let t = 0
  let star = -1
  let resume = 0
  while (t < text.length) {
    if (glob[g] === '*') {
      star = g++
      resume = t
    } else if (g < glob.length && (glob[g] === '?' || glob[g] === text[t])) {
      g++
      t++
    } else if (star !== -1) {
      // Let the last `*` swallow one more character and retry from there.
      g = star + 1
      t = ++resume
    } else {
      return false
    }
  }
  while (glob[g] === '*') g++
  return g === glob.length
}
