/**
 * How much of the machine other processes used while a stage ran: all CPUs' busy time (os.cpus)
 * minus the stage process's and the bench's own CPU time, over the wall time of all CPUs. The load
 * average cannot tell: it counts the bench's own threads too.
 */
import os from "node:os";

/** Busy milliseconds summed over every CPU since boot. */
export function machineBusyMs(cpus: readonly os.CpuInfo[] = os.cpus()): number {
  return cpus.reduce((sum, c) => sum + c.times.user + c.times.nice + c.times.sys + c.times.irq, 0);
}

/** CPU time (user + system) of this process so far, all threads, in ms. */
export function processCpuMs(usage: NodeJS.CpuUsage = process.cpuUsage()): number {
  return (usage.user + usage.system) / 1000;
}

/**
 * The share of the machine's CPU time (0…1) used by anything but `ownMs` during `wallMs`,
 * clamped at 0 (the counters tick at different granularities).
 */
export function otherCpuShare(busyMs: number, ownMs: number, wallMs: number, cpus: number): number {
  if (wallMs <= 0 || cpus <= 0) return 0;
  return Math.min(1, Math.max(0, (busyMs - ownMs) / (wallMs * cpus)));
}
