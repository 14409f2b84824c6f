/** The server's job queue on its own: order, positions, bounds, cancel/interrupt/skip, shutdown. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  JobCancelledError,
  type JobContext,
  type JobEvent,
  JobQueue,
  QueueClosedError,
  QueueFullError,
  type Task,
} from "../src/server/job-queue.js";

/** A task that runs until released (or aborted), recording when it ran. */
function gatedTask(name: string, log: string[]) {
  let release!: (value: string) => void;
  const gate = new Promise<string>((resolve) => {
    release = resolve;
  });
  const task: Task<string> = {
    kind: "test",
    run: async (context: JobContext) => {
      log.push(`start ${name}`);
      const aborted = new Promise<never>((_, reject) =>
        context.signal.addEventListener("abort", () => reject(new Error(`${name} aborted`))),
      );
      const value = await Promise.race([gate, aborted]);
      log.push(`end ${name}`);
      return value;
    },
  };
  return { task, release };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("JobQueue", () => {
  it("runs one job at a time, in submission order, and keeps positions up to date", async () => {
    const log: string[] = [];
    const queue = new JobQueue<string>({ capacity: 8 });
    const tasks = ["a", "b", "c"].map((n) => gatedTask(n, log));
    const jobs = tasks.map((t) => queue.submit(t.task));
    const positions: number[] = [];
    jobs[2].subscribe((e: JobEvent<string>) => e.type === "queued" && positions.push(e.position));
    assert.deepEqual(
      jobs.map((j) => [j.status, j.position]),
      [
        ["running", 0],
        ["queued", 1],
        ["queued", 2],
      ],
    );
    tasks[0].release("A");
    assert.equal(await jobs[0].finished, "A");
    await tick();
    assert.equal(jobs[1].status, "running");
    assert.equal(jobs[2].position, 1);
    tasks[2].release("C"); // released early: must still wait for b
    await tick();
    assert.equal(jobs[2].status, "queued");
    tasks[1].release("B");
    assert.deepEqual(await Promise.all(jobs.map((j) => j.finished)), ["A", "B", "C"]);
    assert.deepEqual(log, ["start a", "end a", "start b", "end b", "start c", "end c"]);
    assert.deepEqual(positions, [1], "job c was told when it moved from place 2 to place 1");
  });

  it("refuses work beyond its capacity with a retry estimate, and after shutdown", async () => {
    const log: string[] = [];
    const queue = new JobQueue<string>({ capacity: 1 });
    const running = gatedTask("running", log);
    const waiting = gatedTask("waiting", log);
    queue.submit(running.task);
    queue.submit(waiting.task);
    assert.throws(
      () => queue.submit(gatedTask("third", log).task),
      (err: unknown) => err instanceof QueueFullError && err.retryAfterSeconds >= 1,
    );
    running.release("x");
    waiting.release("y");
    await queue.idle();
    await queue.shutdown(0);
    assert.throws(() => queue.submit(gatedTask("late", log).task), QueueClosedError);
  });

  it("cancels a waiting job at once and a running one through its signal", async () => {
    const log: string[] = [];
    const queue = new JobQueue<string>({ capacity: 4 });
    const first = gatedTask("first", log);
    const second = gatedTask("second", log);
    const third = gatedTask("third", log);
    const [j1, j2, j3] = [first, second, third].map((t) => queue.submit(t.task));
    assert.equal(queue.cancel(j2.id), true);
    assert.equal(j2.status, "cancelled");
    assert.equal(j3.position, 1);
    await assert.rejects(j2.finished, JobCancelledError);
    assert.equal(queue.cancel(j1.id, "changed my mind"), true);
    await assert.rejects(
      j1.finished,
      (err: unknown) => err instanceof JobCancelledError && /changed my mind/.test(err.message),
    );
    assert.equal(j1.status, "cancelled");
    third.release("3");
    assert.equal(await j3.finished, "3");
    assert.equal(queue.cancel(j3.id), false, "a finished job cannot be cancelled");
    assert.deepEqual(log, ["start first", "start third", "end third"]);
  });

  it("interrupt lets the task return what it has; a failing task fails alone", async () => {
    const queue = new JobQueue<string>({ capacity: 4 });
    const partial = queue.submit({
      kind: "test",
      run: (context) =>
        new Promise((resolve) =>
          context.signal.addEventListener("abort", () => resolve(`partial (${context.signal.reason})`)),
        ),
    });
    const failing = queue.submit({ kind: "test", run: async () => Promise.reject(new Error("boom")) });
    const fine = queue.submit({ kind: "test", run: async () => "fine" });
    await tick();
    assert.equal(queue.interrupt(), true);
    assert.equal(await partial.finished, "partial (interrupt)");
    assert.equal(partial.status, "done");
    assert.equal(partial.progress.interrupted, true);
    await assert.rejects(failing.finished, /boom/);
    assert.equal(failing.status, "failed");
    assert.equal(await fine.finished, "fine");
  });

  it("skip aborts only the current iteration signal", async () => {
    const queue = new JobQueue<string>({ capacity: 1 });
    const seen: string[] = [];
    let skipNow!: () => void;
    const ready = new Promise<void>((resolve) => {
      skipNow = resolve;
    });
    const job = queue.submit({
      kind: "test",
      run: async (context) => {
        for (let k = 0; k < 2; k++) {
          const signal = context.iterationSignal();
          context.emit({ type: "step", step: 1, total: 2, jobNo: k, jobCount: 2 });
          if (k === 0) {
            skipNow();
            await new Promise((resolve) => signal.addEventListener("abort", resolve));
          }
          seen.push(`iteration ${k}: ${signal.aborted ? "skipped" : "ran"}`);
        }
        return "both";
      },
    });
    await ready;
    assert.equal(queue.skip(), true);
    assert.equal(await job.finished, "both");
    assert.deepEqual(seen, ["iteration 0: skipped", "iteration 1: ran"]);
  });

  it("a skip racing the end of an iteration stops neither it nor the next one before its first step", async () => {
    const queue = new JobQueue<string[]>({ capacity: 1 });
    /** A point the task stops at until the test lets it go on. */
    const pause = () => {
      let reach!: () => void;
      let release!: () => void;
      const reached = new Promise<void>((resolve) => {
        reach = resolve;
      });
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      const wait = () => {
        reach();
        return released;
      };
      return { reached, release, wait };
    };
    // iteration 1 has begun but made no step (the client saw iteration 0's last step); iteration 2 has made one
    const beforeFirstStep = pause();
    const afterFirstStep = pause();
    const job = queue.submit({
      kind: "test",
      run: async (context) => {
        const seen: string[] = [];
        for (let k = 0; k < 3; k++) {
          const signal = context.iterationSignal();
          if (k === 1) await beforeFirstStep.wait();
          let step = 0;
          for (; step < 2 && !signal.aborted; step++) {
            context.emit({ type: "step", step: step + 1, total: 2, jobNo: k, jobCount: 3 });
            if (k === 2 && step === 0) await afterFirstStep.wait();
          }
          seen.push(`iteration ${k}: ${step} step(s)${signal.aborted ? ", skipped" : ""}`);
        }
        return seen;
      },
    });
    await beforeFirstStep.reached;
    assert.equal(queue.skip(), true);
    assert.equal(job.progress.skipped, false, "dropped, not reported as skipped");
    beforeFirstStep.release();
    await afterFirstStep.reached;
    assert.equal(queue.skip(), true);
    assert.equal(job.progress.skipped, true);
    afterFirstStep.release();
    assert.deepEqual(await job.finished, [
      "iteration 0: 2 step(s)",
      "iteration 1: 2 step(s)",
      "iteration 2: 1 step(s), skipped",
    ]);
  });

  it("shutdown cancels the waiting jobs and gives the running one its grace period", async () => {
    const log: string[] = [];
    const queue = new JobQueue<string>({ capacity: 4 });
    const slow = gatedTask("slow", log);
    const running = queue.submit(slow.task);
    const waiting = queue.submit(gatedTask("never", log).task);
    setTimeout(() => slow.release("finished in time"), 20);
    await queue.shutdown(5_000);
    assert.equal(await running.finished, "finished in time");
    await assert.rejects(waiting.finished, /shutting down/);

    const stuck = new JobQueue<string>({ capacity: 1 });
    const never = stuck.submit(gatedTask("stuck", log).task);
    const started = Date.now();
    await stuck.shutdown(30);
    assert.ok(Date.now() - started < 2_000, "the grace period bounds the wait");
    await assert.rejects(never.finished, /shutting down/);
    assert.equal(never.status, "cancelled");
  });
});
