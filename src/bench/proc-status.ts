/** A process's resident memory from Linux's /proc/<pid>/status (VmRSS now, VmHWM its peak so far). */
import { readFileSync } from "node:fs";

export interface ProcMemory {
  /** Resident set size now. */
  readonly rssBytes?: number;
  /** The kernel's high-water mark of the resident set since the process started. */
  readonly hwmBytes?: number;
}

export function parseProcStatus(text: string): ProcMemory {
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, "m").exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  return { rssBytes: kb("VmRSS"), hwmBytes: kb("VmHWM") };
}

/** undefined where there is no /proc (not Linux) or the process has gone. */
export function readProcMemory(pid: number | "self"): ProcMemory | undefined {
  try {
    return parseProcStatus(readFileSync(`/proc/${pid}/status`, "utf-8"));
  } catch {
    return undefined;
  }
}
