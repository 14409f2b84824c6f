/** Element count of a tensor shape, refusing shapes that cannot describe a real tensor. */
export function shapeNumel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new RangeError(`shape [${shape.join(", ")}] must hold non-negative integers`);
    }
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new RangeError(`shape [${shape.join(", ")}] is too large`);
  return n;
}
