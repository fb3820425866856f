// Grayscale presentation: stored values through the Modality LUT (rescale, PS3.3 C.11.1.1.2) and
// the VOI LUT window (C.11.2.1.2, C.11.2.1.3) to 8-bit display values, inverted for MONOCHROME1.
import type { RenderableImage, VoiFunction, VoiWindow } from './render-image.ts';

const OUTPUT_MAX = 255;

/**
 * 8-bit display values of `values` (stored pixel values). The window is the one asked, else the
 * instance's own, else the full range of the frame's modality values (PS3.3 C.11.2.1.2.1 Note 4).
 */
export function displayValues(image: RenderableImage, values: Int32Array | Float64Array, window?: VoiWindow): Uint8Array {
  const { slope, intercept } = image.rescale;
  const chosen = window ?? image.storedWindow ?? fullRangeWindow(values, image);
  const voi = voiFunction(chosen);
  const invert = image.photometricInterpretation === 'MONOCHROME1';
  const display = (stored: number) => {
    const value = Math.round(voi(stored * slope + intercept));
    return invert ? OUTPUT_MAX - value : value;
  };

  const output = new Uint8Array(values.length);
  if (values instanceof Int32Array && image.bitsStored <= 16) {
    // One evaluation per possible stored value rather than per pixel.
    const lowest = image.signed ? -(2 ** (image.bitsStored - 1)) : 0;
    const table = new Uint8Array(2 ** image.bitsStored);
    for (let i = 0; i < table.length; i++) table[i] = display(lowest + i);
    for (let i = 0; i < values.length; i++) output[i] = table[values[i]! - lowest]!;
  } else {
    for (let i = 0; i < values.length; i++) output[i] = display(values[i]!);
  }
  return output;
}

/**
 * The window over the frame's modality values, lowest to highest. PS3.3 C.11.2.1.2.1 Note 4:
 * center (x1 + x2 + 1) / 2 and width x2 - x1 + 1 select exactly the values x1..x2.
 */
function fullRangeWindow(values: Int32Array | Float64Array, image: RenderableImage): VoiWindow {
  let lowest = Infinity;
  let highest = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (value < lowest) lowest = value;
    if (value > highest) highest = value;
  }
  const { slope, intercept } = image.rescale;
  const [minimum, maximum] = [lowest * slope + intercept, highest * slope + intercept].sort((a, b) => a - b) as [number, number];
  return { center: (minimum + maximum + 1) / 2, width: Math.max(1, maximum - minimum + 1), function: 'LINEAR' };
}

const VOI_FUNCTIONS: Record<VoiFunction, (window: VoiWindow) => (x: number) => number> = {
  // C.11.2.1.2.1
  LINEAR: ({ center, width }) => {
    if (width <= 1) return (x) => (x <= center - 0.5 ? 0 : OUTPUT_MAX);
    const low = center - 0.5 - (width - 1) / 2;
    const high = center - 0.5 + (width - 1) / 2;
    return (x) => (x <= low ? 0 : x > high ? OUTPUT_MAX : ((x - (center - 0.5)) / (width - 1) + 0.5) * OUTPUT_MAX);
  },
  // C.11.2.1.3.2
  LINEAR_EXACT: ({ center, width }) => {
    const low = center - width / 2;
    const high = center + width / 2;
    return (x) => (x <= low ? 0 : x > high ? OUTPUT_MAX : ((x - center) / width + 0.5) * OUTPUT_MAX);
  },
  // C.11.2.1.3.1
  SIGMOID: ({ center, width }) => (x) => OUTPUT_MAX / (1 + Math.exp((-4 * (x - center)) / width)),
};

const voiFunction = (window: VoiWindow) => VOI_FUNCTIONS[window.function](window);
