/**
 * Where a profile is written: the JSON, with its two SVG charts beside it (FILE.json →
 * FILE-stages.svg, FILE-roofline.svg), and the last profile kept in the sdlite cache folder
 * (`$SDLITE_CACHE/profile/last.json` …) for the web UI. Each file is written under a temporary
 * name and renamed, so a reader never sees half a profile.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { defaultCacheRoot } from "../cache/graph-cache.js";
import type { ProfileReport } from "./profile-report.js";
import { rooflineChart, stagesChart } from "./svg-charts.js";

export interface ProfilePaths {
  readonly json: string;
  readonly stages: string;
  readonly roofline: string;
}

export function defaultProfileDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(defaultCacheRoot(env), "profile");
}

export function profilePaths(jsonPath: string): ProfilePaths {
  const stem = jsonPath.replace(/\.json$/i, "");
  return { json: jsonPath, stages: `${stem}-stages.svg`, roofline: `${stem}-roofline.svg` };
}

export function lastProfilePaths(dir: string = defaultProfileDir()): ProfilePaths {
  return profilePaths(join(dir, "last.json"));
}

/** JSON has no Infinity (an intensity with no DRAM traffic): written as null. */
export function profileJson(report: ProfileReport): string {
  return `${JSON.stringify(report, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`;
}

function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}

export function writeProfileFiles(report: ProfileReport, paths: ProfilePaths): void {
  mkdirSync(dirname(paths.json), { recursive: true });
  writeAtomically(paths.stages, stagesChart(report));
  writeAtomically(paths.roofline, rooflineChart(report));
  writeAtomically(paths.json, profileJson(report));
}
