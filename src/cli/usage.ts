/** A bad value of an argument or option: the command exits 2, as commander's own usage errors (src/main.ts). */
export class UsageError extends Error {
  override name = 'UsageError';
}
