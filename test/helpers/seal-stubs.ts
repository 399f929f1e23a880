// A scheduler double for the seal pipeline's unit tests: AddPiece gives one 2KiB piece at once,
// the other task types are the test's (`tasks`), anything else fails the task.
import type { TaskInput, TaskOutput } from '../../src/sealing/protocol.js';
import type { Scheduler } from '../../src/sealing/scheduler.js';

export function stubScheduler(tasks: Partial<Record<TaskInput['type'], () => Promise<TaskOutput>>> = {}): Scheduler {
  return {
    isKnown: () => true,
    acceptsAnywhere: () => true,
    run: async (_s: unknown, input: TaskInput) => {
      if (input.type === 'AddPiece') return { output: { type: 'AddPiece', pieces: [{ size: 2048, commP: Buffer.alloc(32) }] }, workerId: 'w1' };
      const task = tasks[input.type];
      if (!task) throw new Error(`no ${input.type} in this test`);
      return { output: await task(), workerId: 'w1' };
    },
  } as unknown as Scheduler;
}
