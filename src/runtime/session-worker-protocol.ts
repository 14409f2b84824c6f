/**
 * The messages between a WorkerThreadRuntime (worker-thread-runtime.ts) and its session worker
 * (session-worker.ts). One worker holds one session; requests carry an id, and every request gets
 * exactly one reply with that id. Tensors cross as plain typed arrays (structured clone copies them,
 * so the caller's arrays stay usable).
 */
import type { ModelSource, SessionOptions, TensorData } from "./runtime.js";

/** What the worker gets at start (workerData): the session to create. */
export interface SessionWorkerData {
  readonly model: ModelSource;
  readonly options?: SessionOptions;
}

export type SessionWorkerRequest =
  | {
      readonly id: number;
      readonly type: "run";
      readonly feeds: Readonly<Record<string, TensorData>>;
      readonly outputNames?: readonly string[];
    }
  | { readonly id: number; readonly type: "release" }
  | { readonly id: number; readonly type: "endProfiling" };

/** An error as it crosses the thread: the original's name and message (stack for debugging). */
export interface WorkerError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

export type SessionWorkerReply =
  | { readonly type: "created"; readonly inputNames: string[]; readonly outputNames: string[] }
  | { readonly type: "create-failed"; readonly error: WorkerError }
  | {
      readonly id: number;
      readonly type: "ok";
      readonly outputs?: Record<string, TensorData>;
      readonly trace?: string;
    }
  | { readonly id: number; readonly type: "failed"; readonly error: WorkerError };

export function toWorkerError(err: unknown): WorkerError {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { name: "Error", message: String(err) };
}

/** The worker's error as an Error of the same name and message on this side. */
export function fromWorkerError(e: WorkerError): Error {
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack)
    err.stack = `${e.name}: ${e.message}\n    (in the session worker)\n${e.stack.split("\n").slice(1).join("\n")}`;
  return err;
}
