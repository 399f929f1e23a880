// Loaded into every ava worker (package.json "ava.require", ava.lotus.config.mjs): once a test
// file's tests and hooks are all done, the worker exits. Without it a handle that a failed test
// left open (a socket, a timer, a child's pipe) keeps the worker alive until ava's 10-minute
// timeout, and the run looks hung instead of failed. Passing files are unaffected: their
// workers have nothing left and would exit at this point anyway.
import { registerCompletionHandler } from 'ava';

registerCompletionHandler(() => {
  process.exit();
});
