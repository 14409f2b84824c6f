/**
 * Pillow's Image.alpha_composite / Image.alpha_composite in place (libImaging/AlphaComposite.c):
 * straight-alpha RGBA `src` over `dst`, in integers with 7 extra bits and rounded divisions by 255.
 * A1111 builds its "fill" and pastes the original back over the generated image this way.
 */

const PRECISION_BITS = 7;

/** Pillow's SHIFTFORDIV255: a / 255 for the ranges AlphaComposite.c uses. */
function shiftForDiv255(a: number): number {
  return Math.floor((Math.floor(a / 256) + a) / 256);
}

/** src over dst, both RGBA bytes of the same size; dst is overwritten with the result. */
export function alphaCompositeInto(dst: Uint8Array, src: Uint8Array): void {
  if (dst.length !== src.length || dst.length % 4 !== 0) {
    throw new RangeError(
      `alphaCompositeInto: ${dst.length} and ${src.length} bytes are not two equal RGBA images`,
    );
  }
  for (let i = 0; i < dst.length; i += 4) {
    const sa = src[i + 3];
    if (sa === 0) continue;
    const blend = dst[i + 3] * (255 - sa);
    const outa255 = sa * 255 + blend;
    const coef1 = Math.floor((sa * 255 * 255 * (1 << PRECISION_BITS)) / outa255);
    const coef2 = 255 * (1 << PRECISION_BITS) - coef1;
    for (let c = 0; c < 3; c++) {
      const tmp = src[i + c] * coef1 + dst[i + c] * coef2;
      dst[i + c] = Math.floor(shiftForDiv255(tmp + (0x80 << PRECISION_BITS)) / (1 << PRECISION_BITS));
    }
    dst[i + 3] = shiftForDiv255(outa255 + 0x80);
  }
}
