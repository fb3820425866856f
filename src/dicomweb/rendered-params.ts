// Query parameters of the rendered and thumbnail resources (PS3.18 8.3.5.1, Table 8.3.5-1):
// window, viewport, quality, annotation (and iccprofile, charset). A malformed value is 400.
import type { Request } from 'express';
import type { Viewport, VoiFunction, VoiWindow } from '../dicom/render.ts';
import { badRequest } from '../http/errors.ts';

export interface RenderingParameters {
  window?: VoiWindow;
  viewport?: Viewport;
  quality?: number;
}

const VOI_FUNCTION_OF: Record<string, VoiFunction> = { linear: 'LINEAR', 'linear-exact': 'LINEAR_EXACT', sigmoid: 'SIGMOID' };
/** PS3.18 8.3.5.1.1: annotation items. They are accepted and not burned in (see the conformance statement). */
const ANNOTATIONS = new Set(['patient', 'technique']);
/** PS3.18 8.3.5.1.5: no ICC profile is embedded whatever is asked; output pixels are sRGB-like 8-bit values. */
const ICC_PROFILES = new Set(['no', 'yes', 'srgb', 'adobergb', 'rommrgb']);

export function renderingParameters(req: Request): RenderingParameters {
  const window = single(req, 'window');
  const viewport = single(req, 'viewport');
  const quality = single(req, 'quality');
  const annotation = single(req, 'annotation');
  const iccProfile = single(req, 'iccprofile');
  if (annotation !== undefined) checkAnnotation(annotation);
  if (iccProfile !== undefined && !ICC_PROFILES.has(iccProfile.trim().toLowerCase())) {
    throw badRequest(`iccprofile "${iccProfile}" is not one of ${[...ICC_PROFILES].join(', ')}`, 'iccprofile');
  }
  return {
    ...(window !== undefined ? { window: windowOf(window) } : {}),
    ...(viewport !== undefined ? { viewport: viewportOf(viewport) } : {}),
    ...(quality !== undefined ? { quality: qualityOf(quality, 'quality') } : {}),
  };
}

/** annotation=patient,technique (PS3.18 8.3.5.1.1, and WADO-URI): checked, then ignored. */
export function checkAnnotation(value: string): void {
  for (const item of value.split(',')) {
    if (!ANNOTATIONS.has(item.trim().toLowerCase())) throw badRequest(`annotation "${item}" is not patient or technique`, 'annotation');
  }
}

/** A query parameter given at most once, as a string. */
export function single(req: Request, name: string): string | undefined {
  const value = req.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badRequest(`query parameter ${name} must be given once`, name);
  return value;
}

/** PS3.18 8.3.5.1.4: window=center,width,function. The function may be left out (linear). */
function windowOf(value: string): VoiWindow {
  const [centerText, widthText, functionText, ...rest] = value.split(',');
  const center = decimal(centerText);
  const width = decimal(widthText);
  const fn = VOI_FUNCTION_OF[(functionText ?? 'linear').trim().toLowerCase()];
  if (center === undefined || width === undefined || !fn || rest.length > 0) {
    throw badRequest(`window "${value}" is not center,width,function with function linear, linear-exact or sigmoid`, 'window');
  }
  return checkedWindow({ center, width, function: fn }, 'window');
}

/** PS3.3 C.11.2.1.2: a linear window is at least 1 wide; the other functions need a positive width. */
export function checkedWindow(window: VoiWindow, parameter: string): VoiWindow {
  if (window.function === 'LINEAR' ? window.width < 1 : window.width <= 0) {
    throw badRequest(`window width ${window.width} is too small for the ${window.function.toLowerCase()} function`, parameter);
  }
  return window;
}

/** PS3.18 8.3.5.1.3: viewport=vw,vh or vw,vh,sx,sy,sw,sh (source region in image pixels; a negative sw or sh flips). */
function viewportOf(value: string): Viewport {
  const numbers = value.split(',').map((part) => integer(part));
  const [width, height, x, y, regionWidth, regionHeight] = numbers;
  const valid = (numbers.length === 2 || numbers.length === 6) && numbers.every((n) => n !== undefined)
    && width! > 0 && height! > 0 && (numbers.length === 2 || (x! >= 0 && y! >= 0 && regionWidth !== 0 && regionHeight !== 0));
  if (!valid) throw badRequest(`viewport "${value}" is not vw,vh[,sx,sy,sw,sh] with positive vw, vh and non-zero sw, sh`, 'viewport');
  return { width: width!, height: height!, ...(numbers.length === 6 ? { region: { x: x!, y: y!, width: regionWidth!, height: regionHeight! } } : {}) };
}

/** PS3.18 8.3.5.1.2: quality is an integer from 1 to 100. */
export function qualityOf(value: string, parameter: string): number {
  const quality = integer(value);
  if (quality === undefined || quality < 1 || quality > 100) throw badRequest(`${parameter} "${value}" is not an integer from 1 to 100`, parameter);
  return quality;
}

export function integer(text: string | undefined): number | undefined {
  const trimmed = text?.trim() ?? '';
  return /^[+-]?\d{1,9}$/.test(trimmed) ? Number(trimmed) : undefined;
}

/** A decimal number as DS allows it (PS3.5 6.2: optional sign, digits, fraction, exponent). */
export function decimal(text: string | undefined): number | undefined {
  const trimmed = text?.trim() ?? '';
  return /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(trimmed) ? Number(trimmed) : undefined;
}
