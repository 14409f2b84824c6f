/** How long a call takes to answer: responsiveness checks of the server while a job runs. */
export async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await f();
  return { value, ms: performance.now() - start };
}
